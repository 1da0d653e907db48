"""Slack answers 5xx, transient ``ok: false`` errors or times out for a while, then
recovers: every alert is delivered, in order, nothing twice.

The delivery worker runs its real threads (``worker.start``) with the fixture's fast
backoff, so the outage is retried many times over while it lasts.
"""

from __future__ import annotations

from tests.faults.helpers import (
    all_cleared,
    clear,
    delivery_report,
    name_of,
    outbox_idle,
    post_webhook,
    trigger,
)
from tests.support.waiting import wait_for

ALERTS = 16
CHANNELS = ("C0ALERTS", "C0OTHER")


def _outage(fake_slack, methods: tuple[str, ...], status: int) -> list:
    """Every call to ``methods`` fails with ``status`` until :func:`_recover`."""
    before = len(fake_slack.faults)
    for method in methods:
        fake_slack.fail(method, status=status, times=10**6)
    return fake_slack.faults[before:]


def _recover(faults) -> None:
    for fault in faults:
        fault.remaining = 0


def test_slack_down_then_back_delivers_everything_once_in_order(
    slack_server, worker, fake_slack, database_url
):
    # The first posts time out (the client gives up after SLACK_TIMEOUT=2 s; the fake
    # creates no message), then Slack is down for every call, then it answers
    # transient ok:false errors a few times.
    fake_slack.fail("chat.postMessage", status=503, delay=2.5, times=2)
    down = _outage(fake_slack, ("chat.postMessage", "chat.update"), 503)
    worker.start(3)
    numbers = list(range(ALERTS))
    for number in numbers:
        channel = CHANNELS[number % 2]
        assert post_webhook(slack_server.url, trigger(number), channel=channel).status_code == 200
    wait_for(lambda: len(fake_slack.calls_to("chat.postMessage")) >= 3 * ALERTS, 20,
             "posts retried during the outage")
    assert fake_slack.top_level() == []
    _recover(down)
    fake_slack.fail("chat.postMessage", error="service_unavailable", times=3)

    # The clears come while triggers are still being retried and delivered.
    for number in numbers:
        response = post_webhook(slack_server.url, clear(number), channel=CHANNELS[number % 2])
        assert response.status_code == 200
    wait_for(lambda: all_cleared(fake_slack, numbers), 30, "every alert delivered")
    wait_for(lambda: outbox_idle(database_url), 30, "outbox idle")
    # The fake records a call's status only once its delayed answer is out.
    wait_for(lambda: [c.status for c in fake_slack.calls_to("chat.postMessage")[:2]] == [503, 503],
             10, "timed-out calls answered")

    problems, duplicates = delivery_report(fake_slack, numbers)
    assert not problems and not duplicates, "\n".join(problems + duplicates)
    for number in numbers:
        [parent] = [m for m in fake_slack.top_level() if name_of(number) in m.text + str(m.blocks)]
        assert parent.channel == CHANNELS[number % 2]
    assert len(fake_slack.calls_to("chat.postMessage", ok_only=True)) == 2 * ALERTS
    assert all(f.remaining == 0 for f in fake_slack.faults), "a scripted failure was not met"


def test_update_failing_after_the_reply_does_not_repeat_the_reply(
    slack_server, worker, fake_slack, database_url
):
    """A clear posts its reply, then its parent's update fails: the retries must only
    update the parent (the reply's ts was saved), even when it fails again and again
    (each failed update still takes a slot of the workspace's update budget)."""
    numbers = list(range(6))
    worker.start(2)
    for number in numbers:
        assert post_webhook(slack_server.url, trigger(number)).status_code == 200
    wait_for(lambda: len(fake_slack.top_level()) == len(numbers), 30, "parents posted")

    down = _outage(fake_slack, ("chat.update",), 502)
    for number in numbers:
        assert post_webhook(slack_server.url, clear(number)).status_code == 200
    wait_for(lambda: sum(len(fake_slack.thread(p)) for p in fake_slack.top_level())
             >= len(numbers), 30, "replies posted")
    wait_for(lambda: len([c for c in fake_slack.calls_to("chat.update") if c.status == 502])
             >= 2 * len(numbers), 30, "updates retried")
    _recover(down)
    wait_for(lambda: all_cleared(fake_slack, numbers), 30, "parents updated")
    wait_for(lambda: outbox_idle(database_url), 30, "outbox idle")
    problems, duplicates = delivery_report(fake_slack, numbers)
    assert not problems and not duplicates, "\n".join(problems + duplicates)
    assert len(fake_slack.calls_to("chat.postMessage", ok_only=True)) == 2 * len(numbers)
