"""Today's ThousandEyes shapes end to end: webhook over HTTP -> database -> worker -> Slack."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from sqlalchemy import select

from bot.db.models import AlertRow
from bot.render.actions import ACKNOWLEDGE
from tests.support.delivery import drain, send, serving
from tests.support.payloads import load_sample, load_shape

UTC = UTC


def text_of(message) -> str:
    return message.text + json.dumps(message.blocks, ensure_ascii=False)


def date_tokens(message) -> list[int]:
    return [int(epoch) for epoch in re.findall(r"<!date\^(\d+)\^", text_of(message))]


def test_unzoned_dates_are_read_in_thousandeyes_timezone_on_both_sides(slack_config, fake_slack):
    config = slack_config.with_overrides(thousandeyes_timezone="America/Chicago")
    with serving(config) as (server, worker):
        send(server, load_sample("trigger"))  # 2014-08-24 01:01:47 in Chicago (CDT)
        drain(worker)
        send(server, load_sample("clear"))  # ends 01:09:51
        drain(worker)
        with worker.database.session() as session:
            alert = session.scalars(select(AlertRow)).one()
            assert alert.triggered_at == datetime(2014, 8, 24, 6, 1, 47, tzinfo=UTC)
            assert alert.cleared_at == datetime(2014, 8, 24, 6, 9, 51, tzinfo=UTC)
    [parent] = fake_slack.top_level()
    [reply] = fake_slack.thread(parent)
    # The delivery re-reads the stored alert in the same zone: parent, agents and reply.
    assert date_tokens(parent)[:2] == [1408860107, 1408860591]
    assert 1408860591 in date_tokens(reply)
    assert "8m 4s" in text_of(reply)


def test_an_agent_offline_alert_in_todays_shape_threads_and_names_the_agent(
        slack_server, worker, fake_slack):
    send(slack_server, load_shape("agent_offline_trigger"))
    drain(worker)
    send(slack_server, load_shape("agent_offline_clear"))
    drain(worker)
    [parent] = fake_slack.top_level()
    [reply] = fake_slack.thread(parent)
    body = text_of(parent)
    assert "chi-branch-07" in body and "te-agent-chi07.corp.example" in body
    assert "10.42.7.19" in body and "Test:" not in body
    assert "Cleared after 44m 30s" in reply.text
    assert date_tokens(reply) == [1650927750]
    with worker.database.session() as session:
        [alert] = session.scalars(select(AlertRow)).all()
        assert (alert.kind, alert.alert_key, alert.state) == ("test", "918273645", "cleared")
        assert alert.title == "chi-branch-07" and alert.rule_name == "Agent Offline - Branch Offices"


def test_a_rule_removed_while_alerting_reads_as_closed_in_the_thread(
        slack_server, worker, fake_slack):
    send(slack_server, load_shape("agent_offline_trigger"))
    send(slack_server, load_shape("agent_rule_removed_clear"))
    drain(worker)
    [parent] = fake_slack.top_level()
    [reply] = fake_slack.thread(parent)
    assert reply.text.startswith("⚪ Closed, alert rule changed")
    assert "modified or removed" in text_of(reply) and "Cleared" not in text_of(reply)
    assert parent.text.startswith("⚪ Closed") and ACKNOWLEDGE not in text_of(parent)

