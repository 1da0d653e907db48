"""``kill -9`` of ``python -m bot serve`` in the middle of a stream of webhooks.

Every event answered 200 before the kill must reach Slack exactly once after a restart,
in per-alert order (the trigger's parent first, the clear's reply in its thread). Events
that got no 200 are sent again, as ThousandEyes retries them, and must then be delivered
exactly once too.

Two kills: one while Slack is failing every post (so no Slack call with an effect is in
flight: this isolates the durability of accepted events and the restart's recovery of
the jobs the dead process held), and one while delivery is posting, so that jobs die
between Slack creating a message and the job recording its ts. (That window posted
twice in most PostgreSQL runs until the job markers of commit 15c1c89; see
test_found_defects.py.)
"""

from __future__ import annotations

import threading

import requests

from bot.db.models import JobStatus
from tests.conftest import WEBHOOK_TOKEN
from tests.faults.helpers import (
    Serve,
    all_cleared,
    clear,
    delivery_report,
    job_counts,
    outbox_idle,
    post_webhook,
    trigger,
)
from tests.support.processes import free_port
from tests.support.waiting import wait_for

ALERTS = 30
DELIVERY_THREADS = 3


def _env(database_url: str, fake_slack) -> dict[str, str]:
    return dict(
        DATABASE_URL=database_url, WEBHOOK_TOKEN=WEBHOOK_TOKEN, SLACK_BOT_TOKEN="xoxb-kill",
        SLACK_API_URL=fake_slack.url, SLACK_CHANNEL="C0ALERTS", SLACK_POST_INTERVAL="0",
        SLACK_TIMEOUT="5", DELIVERY_THREADS=str(DELIVERY_THREADS),
    )


def _stream_and_kill(tmp_path, port, env, fake_slack, tag, wait_for_delivery):
    """Send trigger, clear, trigger, clear ... and kill -9 once half are accepted.

    Returns the events in sending order and what each got (a status or an error name).
    """
    events = [p for n in range(ALERTS) for p in (trigger(n, tag), clear(n, tag))]
    answers: dict[str, int | str] = {}
    half_accepted = threading.Event()

    def stream(base_url: str) -> None:
        with requests.Session() as session:
            for payload in events:
                try:
                    response = post_webhook(base_url, payload, session=session, timeout=5)
                    answers[payload["eventId"]] = response.status_code
                except requests.RequestException as error:
                    answers[payload["eventId"]] = type(error).__name__
                if sum(1 for a in answers.values() if a == 200) >= len(events) // 2:
                    half_accepted.set()

    first = Serve(tmp_path, port, "first", **env).wait_healthy()
    try:
        sender = threading.Thread(target=stream, args=(first.url,), daemon=True)
        sender.start()
        assert half_accepted.wait(30), first.log()[-3000:]
        wait_for(wait_for_delivery, 10, "delivery under way")
        first.kill_9()
        sender.join(60)
        assert not sender.is_alive()
    finally:
        first.stop()
    accepted = [e for e in events if answers.get(e["eventId"]) == 200]
    assert len(accepted) >= len(events) // 2
    assert len(accepted) < len(events), "the kill came after the whole stream"
    return events, answers


def _restart_and_resend(tmp_path, port, env, events, answers) -> Serve:
    second = Serve(tmp_path, port, "second", **env).wait_healthy()
    # ThousandEyes retries what got no 200, in the order it first sent it.
    with requests.Session() as session:
        for payload in events:
            if answers.get(payload["eventId"]) == 200:
                continue
            response = post_webhook(second.url, payload, session=session)
            assert response.status_code == 200, response.text
            assert response.json()["status"] in ("accepted", "duplicate")
    return second


def test_kill_9_while_slack_fails_then_restart_delivers_each_event_once(
    tmp_path, database_url, fake_slack
):
    port = free_port()
    env = _env(database_url, fake_slack)
    # Every post fails (no message is created), so no call with an effect is in flight.
    fake_slack.fail("chat.postMessage", status=503, times=10**6)
    events, answers = _stream_and_kill(
        tmp_path, port, env, fake_slack, "calm",
        wait_for_delivery=lambda: len(fake_slack.calls_to("chat.postMessage")) >= 3,
    )
    for fault in fake_slack.faults:
        fault.remaining = 0  # Slack recovers
    second = _restart_and_resend(tmp_path, port, env, events, answers)
    try:
        _assert_each_alert_delivered_once(fake_slack, database_url)
        log = second.log()
        assert "Traceback" not in log
        assert "lease of" not in log  # no job waited for its lease to expire
    finally:
        second.stop()


def test_kill_9_while_posting_then_restart_loses_nothing(tmp_path, database_url, fake_slack):
    port = free_port()
    env = _env(database_url, fake_slack)
    events, answers = _stream_and_kill(
        tmp_path, port, env, fake_slack, "busy",
        wait_for_delivery=lambda: fake_slack.calls_to("chat.postMessage"),
    )
    second = _restart_and_resend(tmp_path, port, env, events, answers)
    try:
        _assert_each_alert_delivered_once(fake_slack, database_url)
        log = second.log()
        assert "Traceback" not in log
        assert "lease of" not in log  # the dead process's jobs were requeued at once
    finally:
        second.stop()


def _assert_each_alert_delivered_once(fake_slack, database_url):
    """Every alert has one parent and one reply in its thread, nothing posted twice."""
    numbers = list(range(ALERTS))
    wait_for(lambda: all_cleared(fake_slack, numbers), 60, "every alert delivered")
    # Anything posted twice (a job run again after the kill) has been posted by now.
    wait_for(lambda: outbox_idle(database_url), 20, "outbox idle")
    problems, duplicates = delivery_report(fake_slack, numbers)
    assert not problems and not duplicates, "\n".join(problems + duplicates)
    posts = fake_slack.calls_to("chat.postMessage", ok_only=True)
    assert len(posts) == 2 * ALERTS, f"{len(posts)} posts"
    assert JobStatus.DEAD not in job_counts(database_url)
