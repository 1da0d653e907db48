"""Delivery threads post over kept-alive connections to Slack: a few connections for many
posts, as a client of Slack (HTTP/1.1) should, not one for each call."""

from __future__ import annotations

from tests.support.delivery import send
from tests.support.payloads import numbered_alert_event
from tests.support.waiting import wait_for

ALERTS = 12
THREADS = 2


def test_delivery_posts_many_alerts_over_one_connection_per_thread(
    slack_server, worker, fake_slack
):
    for number in range(ALERTS):
        send(slack_server, numbered_alert_event("trigger", number, "kept", f"Test {number}"))
    before = fake_slack.connections.accepted
    worker.start(threads=THREADS)
    wait_for(lambda: len(fake_slack.top_level("C0ALERTS")) == ALERTS, message="every alert posted")
    worker.stop()
    # One per delivery thread, and one for the maintenance thread should it call Slack.
    assert fake_slack.connections.accepted - before <= THREADS + 1
    assert len(fake_slack.calls_to("chat.postMessage")) == ALERTS
