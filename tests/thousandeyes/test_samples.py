"""Fresh samples: what ``send-sample`` sends by default is an alert of today whose clear
ends it, read by the same parser the webhook uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.thousandeyes import parse_event
from bot.thousandeyes.options import ParseOptions
from bot.thousandeyes.samples import NoTriggerToClear, fresh_sample, load_sample

NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


def test_a_fresh_trigger_is_dated_now_with_new_ids():
    first = fresh_sample("trigger", NOW, 1001)
    second = fresh_sample("trigger", NOW + timedelta(minutes=1), 1002)
    assert first["eventId"] != second["eventId"] != load_sample("trigger")["eventId"]
    event = parse_event(first)
    assert event.alert.key == "1001" and parse_event(second).alert.key == "1002"
    assert event.alert.date_start == NOW
    # The agents keep their offsets from the alert's start (the article's second agent
    # started 56 s before the alert).
    assert [agent.date_start for agent in event.alert.agents] == [NOW, NOW - timedelta(seconds=56)]
    assert "alertId=1001" in event.alert.permalink


def test_fresh_dates_name_their_zone_whatever_the_service_assumes():
    event = parse_event(fresh_sample("trigger", NOW, 7),
                        ParseOptions.for_timezone("America/New_York"))
    assert event.alert.date_start == NOW


def test_a_fresh_clear_ends_the_trigger_it_is_given():
    trigger = fresh_sample("trigger", NOW, 1001)
    clear = parse_event(fresh_sample("clear", NOW + timedelta(minutes=3), 1002, trigger))
    assert clear.alert.key == parse_event(trigger).alert.key
    assert clear.alert.date_start == NOW and clear.alert.date_end == NOW + timedelta(minutes=3)
    assert clear.event_id != trigger["eventId"]


def test_the_agent_clear_ends_the_same_agent_alert():
    trigger = fresh_sample("agent-trigger", NOW, 5001)
    clear = fresh_sample("agent-clear", NOW + timedelta(minutes=2), 5002, trigger)
    assert parse_event(clear).alert.key == parse_event(trigger).alert.key == "5001"
    assert parse_event(clear).alert.agent_name == parse_event(trigger).alert.agent_name
    assert parse_event(trigger).alert.date_start == NOW


def test_a_fresh_clear_needs_its_trigger():
    with pytest.raises(NoTriggerToClear):
        fresh_sample("clear", NOW, 1)


def test_the_webhook_test_gets_a_new_event_id():
    assert fresh_sample("test", NOW, 42)["eventId"] != fresh_sample("test", NOW, 43)["eventId"]
