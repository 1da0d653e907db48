"""``GET /metrics`` moves as events are accepted, delivered to (fake) Slack over HTTP,
rate-limited, dead-lettered and acknowledged; one process (see test_processes.py for
several)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from bot.delivery.runner import DeliveryWorker
from bot.process.app import create_app
from bot.render.actions import ACKNOWLEDGE
from bot.web.services import services
from tests.conftest import WEBHOOK_TOKEN
from tests.faults.helpers import alerts_in_slack, clear, post_webhook, trigger
from tests.support.metrics import scrape
from tests.support.servers import LiveServer
from tests.support.slack_requests import click
from tests.support.waiting import wait_for

TRIGGER = "ALERT_NOTIFICATION_TRIGGER"


@pytest.fixture
def delivery(slack_app) -> Iterator[DeliveryWorker]:
    """The delivery threads of the serving process, counting into its /metrics."""
    app_services = services(slack_app)
    worker = DeliveryWorker(app_services.config, app_services.database,
                            wake=app_services.jobs_waiting, backoff=lambda attempts: 0.05,
                            on_finished=app_services.metrics.job_finished)
    yield worker
    worker.stop()


def test_accepted_duplicate_and_refused_webhooks_are_counted(slack_server):
    assert post_webhook(slack_server.url, trigger(1)).status_code == 200
    assert post_webhook(slack_server.url, trigger(1)).json()["status"] == "duplicate"
    refused = requests.post(slack_server.url + "/webhooks/thousandeyes", json=trigger(2),
                            headers={"Authorization": "Bearer wrong"}, timeout=10)
    assert refused.status_code == 401
    assert requests.post(slack_server.url + "/webhooks/thousandeyes/nosuchroute",
                         json=trigger(3), timeout=10).status_code == 404

    metrics = scrape(slack_server.url)
    assert metrics.value("thousandeyes_webhooks_total", route="default", status="200") == 2
    assert metrics.value("thousandeyes_webhooks_total", route="default", status="401") == 1
    # An id that is no route is one label for all of them, not a series per guess.
    assert metrics.value("thousandeyes_webhooks_total", route="unknown", status="404") == 1
    assert metrics.value("thousandeyes_events_total", type=TRIGGER, result="accepted") == 1
    assert metrics.value("thousandeyes_events_total", type=TRIGGER, result="duplicate") == 1
    # Nothing delivers yet: the job waits, and the database says so.
    assert metrics.value("thousandeyes_jobs", status="pending", kind="alert_trigger") == 1
    assert metrics.value("thousandeyes_jobs_due") == 1
    assert metrics.value("thousandeyes_oldest_open_job_age_seconds") >= 0
    assert metrics.value("thousandeyes_database_up") == 1


def test_delivered_rate_limited_and_dead_lettered_jobs_are_counted(
        slack_server, fake_slack, delivery):
    fake_slack.fail("chat.postMessage", status=429, retry_after=1, times=1)
    assert post_webhook(slack_server.url, trigger(1)).status_code == 200
    delivery.start(2)
    wait_for(lambda: alerts_in_slack(fake_slack).get(1) and alerts_in_slack(fake_slack)[1].parents,
             30, "the parent posted after the 429")
    fake_slack.fail("chat.postMessage", error="msg_too_long", times=1)
    assert post_webhook(slack_server.url, trigger(2)).status_code == 200
    wait_for(lambda: scrape(slack_server.url).value("thousandeyes_jobs", status="dead") == 1,
             30, "the second trigger dead-lettered")
    # A post shows in Slack a moment before its outcome is recorded.
    wait_for(lambda: scrape(slack_server.url).value("thousandeyes_jobs", status="running") == 0,
             30, "both outcomes recorded")

    metrics = scrape(slack_server.url)
    delivered = dict(kind="alert_trigger", outcome="delivered")
    assert metrics.value("thousandeyes_deliveries_total", **delivered) == 1
    assert metrics.value("thousandeyes_deliveries_total", kind="alert_trigger", outcome="retry",
                         error="ratelimited") == 1
    assert metrics.value("thousandeyes_slack_rate_limited_total", kind="alert_trigger") == 1
    assert metrics.value("thousandeyes_deliveries_total", kind="alert_trigger", outcome="dead",
                         error="msg_too_long") == 1
    assert metrics.value("thousandeyes_jobs", status="dead", kind="alert_trigger") == 1
    # It waited out Retry-After (1 s) before it was posted.
    assert metrics.value("thousandeyes_accepted_to_posted_seconds_count",
                         kind="alert_trigger") == 1
    assert metrics.value("thousandeyes_accepted_to_posted_seconds_bucket",
                         kind="alert_trigger", le="0.5") == 0
    assert metrics.value("thousandeyes_jobs", status="pending") == 0


def test_a_click_times_the_updated_parent(slack_server, fake_slack, delivery):
    delivery.start(2)
    assert post_webhook(slack_server.url, trigger(1)).status_code == 200
    parent = wait_for(lambda: (alerts_in_slack(fake_slack).get(1) or None) and
                      alerts_in_slack(fake_slack)[1].parents[0], 30, "parent posted")
    value = next(element["value"] for block in parent.blocks if block["type"] == "actions"
                 for element in block["elements"] if element["action_id"] == ACKNOWLEDGE)
    answer = click(slack_server.url, ACKNOWLEDGE, value, user_id="U0ALICE", user_name="alice",
                   channel_id=parent.channel, message_ts=parent.ts)
    assert answer.status_code == 200
    wait_for(lambda: scrape(slack_server.url).value(
        "thousandeyes_click_to_updated_seconds_count") == 1, 30, "the refresh timed")
    # The parent Slack shows is the acknowledged one.
    assert "alice" in fake_slack.top_level("C0ALERTS")[0].text.lower() or any(
        "U0ALICE" in str(block) for block in fake_slack.top_level("C0ALERTS")[0].blocks)
    # A clear's update of the parent is not a click.
    assert post_webhook(slack_server.url, clear(1)).status_code == 200
    wait_for(lambda: scrape(slack_server.url).value(
        "thousandeyes_deliveries_total", kind="alert_clear", outcome="delivered") == 1, 30,
        "the clear delivered")
    assert scrape(slack_server.url).value("thousandeyes_click_to_updated_seconds_count") == 1


def test_metrics_token_is_required_when_set(slack_config):
    app = create_app(slack_config.with_overrides(metrics_token="metrics-token-0123456789"))
    try:
        with LiveServer(app) as server:
            for headers in ({}, {"Authorization": "Bearer metrics-token-wrong"},
                            {"Authorization": f"Bearer {WEBHOOK_TOKEN}"},
                            {"Authorization": "Basic bWV0cmljczp4"}):
                answer = requests.get(server.url + "/metrics", headers=headers, timeout=10)
                assert answer.status_code == 401, headers
                assert answer.json()["error"] == "unauthorized"
                assert answer.headers["WWW-Authenticate"].startswith("Bearer")
                assert "metrics-token-0123456789" not in answer.text
            metrics = scrape(server.url, token="metrics-token-0123456789")
            assert metrics.value("thousandeyes_database_up") == 1
    finally:
        services(app).database.dispose()
