"""Enrichment where the webhook is thin: a custom-webhook alert that names no agent
metrics gets them from ThousandEyes (``AlertsApi.get_alert``: each ``details[]`` source's
start and end metrics), once per state, stored with the alert, asked by delivery with a
short deadline; the webhook never waits for it, and a failure posts without them.
"""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select

from bot.clock import utcnow
from bot.config import Config
from bot.db.models import AlertRow
from bot.delivery.enrichment import ENRICH_TIMEOUT
from bot.outbox.enqueue import queue_parent_refresh
from tests.support.delivery import drain, send
from tests.support.fake_thousandeyes import TOKEN, Operation
from tests.support.payloads import custom_without_agents, load_custom, load_sample
from tests.support.thousandeyes_account import agent


@pytest.fixture
def slack_config(slack_config: Config, fake_thousandeyes) -> Config:
    """The suite's Slack configuration, linked to the fake ThousandEyes API."""
    return Config(**{**slack_config.__dict__, "thousandeyes_api_token": TOKEN,
                     "thousandeyes_api_url": fake_thousandeyes.url})


@pytest.fixture
def te_alert(fake_thousandeyes):
    account = fake_thousandeyes.account
    test = account.add_test("api.example.com health", "http-server")
    rule = account.add_rule("Default HTTP Alert Rule", "http-server", tests=[test])
    return account.add_alert(rule, test, [agent("Frankfurt, Germany", "Response Code: 502"),
                                          agent("Tokyo, Japan", "Error Type: Connect")])


def parent_text(fake_slack) -> str:
    [parent] = fake_slack.top_level()
    return parent.text + json.dumps(parent.blocks, ensure_ascii=False)


def test_a_thin_custom_alert_shows_the_agents_metrics_from_the_api(
        slack_server, worker, fake_slack, fake_thousandeyes, te_alert):
    send(slack_server, custom_without_agents("trigger", te_alert.alert_id))
    assert fake_thousandeyes.calls_to(Operation.GET_ALERT) == []  # the webhook never asks
    drain(worker)
    [call] = fake_thousandeyes.calls_to(Operation.GET_ALERT)
    assert call.path.endswith(f"/alerts/{te_alert.alert_id}") and call.token == TOKEN
    text = parent_text(fake_slack)
    for expected in ("*Agents* (2)", "Frankfurt, Germany", "Response Code: 502", "Tokyo, Japan",
                     "Error Type: Connect"):
        assert expected in text, expected


def test_it_is_asked_once_and_kept_with_the_alert(
        slack_server, worker, fake_slack, fake_thousandeyes, te_alert):
    send(slack_server, custom_without_agents("trigger", te_alert.alert_id))
    drain(worker)
    with worker.database.session() as session:
        row = session.scalars(select(AlertRow)).one()
    assert [a["metricsAtStart"] for a in row.data["agents"]] == ["Response Code: 502",
                                                                 "Error Type: Connect"]
    queue_parent_refresh(worker.database, alert_id=row.id, channel=row.channel, now=utcnow())
    drain(worker)
    assert len(fake_thousandeyes.calls_to(Operation.GET_ALERT)) == 1


def test_the_clear_gets_the_end_metrics(slack_server, worker, fake_slack, fake_thousandeyes,
                                        te_alert):
    send(slack_server, custom_without_agents("trigger", te_alert.alert_id))
    drain(worker)
    fake_thousandeyes.account.clear(te_alert, metrics_at_end="Response Code: 200")
    send(slack_server, custom_without_agents("clear", te_alert.alert_id))
    drain(worker)
    assert len(fake_thousandeyes.calls_to(Operation.GET_ALERT)) == 2
    text = parent_text(fake_slack)
    assert "Response Code: 502 → Response Code: 200" in text


@pytest.mark.parametrize("status", [401, 404, 429, 500])
def test_a_failure_posts_without_the_metrics_and_is_not_asked_again(
        slack_server, worker, fake_slack, fake_thousandeyes, te_alert, status):
    fake_thousandeyes.fail(Operation.GET_ALERT, status)
    send(slack_server, custom_without_agents("trigger", te_alert.alert_id))
    drain(worker)
    [parent] = fake_slack.top_level()
    assert "Response Code: 502" not in parent_text(fake_slack)
    assert "Default HTTP Alert Rule" in parent.text
    with worker.database.session() as session:
        row = session.scalars(select(AlertRow)).one()
    queue_parent_refresh(worker.database, alert_id=row.id, channel=row.channel, now=utcnow())
    drain(worker)
    assert len(fake_thousandeyes.calls_to(Operation.GET_ALERT)) == 1


def test_a_silent_api_delays_the_post_by_the_short_deadline_only(
        slack_server, worker, fake_slack, fake_thousandeyes, te_alert):
    fake_thousandeyes.stall(Operation.GET_ALERT)
    started = time.monotonic()
    send(slack_server, custom_without_agents("trigger", te_alert.alert_id))
    assert time.monotonic() - started < 2  # the webhook's answer
    drain(worker)
    assert time.monotonic() - started < sum(ENRICH_TIMEOUT) + 5
    assert len(fake_slack.top_level()) == 1
    assert "Response Code: 502" not in parent_text(fake_slack)


def test_alerts_whose_webhook_names_agent_metrics_are_not_looked_up(
        slack_server, worker, fake_slack, fake_thousandeyes, te_alert):
    body = custom_without_agents("trigger", te_alert.alert_id)
    body["alert"]["details"] = load_custom("generic_trigger")["alert"]["details"]
    send(slack_server, body)
    send(slack_server, load_sample("trigger"))  # classic, with agents
    drain(worker)
    assert len(fake_slack.top_level()) == 2
    assert fake_thousandeyes.calls_to(Operation.GET_ALERT) == []
