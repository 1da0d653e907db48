"""``kill -9`` of ``python -m bot serve`` in the middle of a stream of webhooks.

Every event answered 200 before the kill must reach Slack exactly once after a restart,
in per-alert order (the trigger's parent first, the clear's reply in its thread). Events
that got no 200 are sent again, as ThousandEyes retries them, and must then be delivered
exactly once too.
"""

from __future__ import annotations

import threading

import requests

from bot.store.models import JobStatus
from tests.conftest import WEBHOOK_TOKEN
from tests.faults.helpers import (
    Serve,
    all_cleared,
    assert_each_alert_once_in_order,
    clear,
    job_counts,
    outbox_idle,
    post_webhook,
    trigger,
    wait_for,
)
from tests.support.processes import free_port

ALERTS = 40


def test_kill_9_mid_stream_then_restart_delivers_each_accepted_event_once(
    tmp_path, database_url, fake_slack
):
    port = free_port()
    env = dict(
        DATABASE_URL=database_url, WEBHOOK_TOKEN=WEBHOOK_TOKEN, SLACK_BOT_TOKEN="xoxb-kill",
        SLACK_API_URL=fake_slack.url, SLACK_CHANNEL="C0ALERTS", SLACK_POST_INTERVAL="0",
        SLACK_TIMEOUT="5", DELIVERY_THREADS="3",
    )
    events = [payload for n in range(ALERTS) for payload in (trigger(n), clear(n))]
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
                accepted = sum(1 for a in answers.values() if a == 200)
                if accepted >= len(events) // 2:
                    half_accepted.set()

    first = Serve(tmp_path, port, "first", **env).wait_healthy()
    try:
        sender = threading.Thread(target=stream, args=(first.url,), daemon=True)
        sender.start()
        assert half_accepted.wait(30), first.log()[-3000:]
        # Let delivery get going too, so the kill lands with jobs in flight.
        wait_for(lambda: fake_slack.calls_to("chat.postMessage"), 10, "delivery started")
        first.kill_9()
        sender.join(60)
        assert not sender.is_alive()
    finally:
        first.stop()

    accepted_before = [e["eventId"] for e in events if answers.get(e["eventId"]) == 200]
    unanswered = [e for e in events if answers.get(e["eventId"]) != 200]
    assert len(accepted_before) >= len(events) // 2
    assert unanswered, "the kill came after the whole stream; nothing was cut off"

    second = Serve(tmp_path, port, "second", **env).wait_healthy()
    try:
        # ThousandEyes retries what got no 200, in the order it was first sent.
        with requests.Session() as session:
            for payload in unanswered:
                response = post_webhook(second.url, payload, session=session)
                assert response.status_code == 200, response.text
                assert response.json()["status"] in ("accepted", "duplicate")
        numbers = list(range(ALERTS))
        wait_for(lambda: all_cleared(fake_slack, numbers), 60,
                 "every alert delivered and cleared after the restart")
        # Anything posted twice (a job retried after the kill) would show up by now.
        wait_for(lambda: outbox_idle(database_url), 20, "outbox idle")
        assert job_counts(database_url).get(JobStatus.DEAD) is None
        assert_each_alert_once_in_order(fake_slack, numbers)
        posts = fake_slack.calls_to("chat.postMessage", ok_only=True)
        assert len(posts) == 2 * ALERTS, f"{len(posts)} posts for {ALERTS} alerts"
        assert "Traceback" not in second.log()
    finally:
        second.stop()

