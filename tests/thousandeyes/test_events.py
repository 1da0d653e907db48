from datetime import UTC, datetime

import pytest

from bot.thousandeyes import (
    AgentAlert,
    PayloadError,
    TestAlert,
    Transition,
    parse_event,
)
from tests.support.payloads import load_sample, load_variant

UTC = UTC


def test_sample_trigger_is_a_test_alert_keyed_by_alert_id():
    event = parse_event(load_sample("trigger"))
    assert event.transition is Transition.TRIGGER
    assert isinstance(event.alert, TestAlert)
    assert event.alert.key == "35541"
    assert event.alert.rule_name == "Default Page Load Alert Rule"
    assert event.alert.date_start == datetime(2014, 8, 24, 1, 1, 47, tzinfo=UTC)
    assert [a.agent_name for a in event.alert.agents] == ["Boston, MA", "Vancouver, Canada"]


def test_sample_clear_correlates_with_trigger_and_has_end_date():
    trigger = parse_event(load_sample("trigger"))
    clear = parse_event(load_sample("clear"))
    assert clear.transition is Transition.CLEAR
    assert clear.alert.key == trigger.alert.key
    assert clear.alert.date_end == datetime(2014, 8, 24, 1, 9, 51, tzinfo=UTC)
    assert clear.alert.agents[0].metrics_at_end == "Page Load: Complete"


def test_agent_samples_are_keyed_by_notification_id_with_epoch_dates():
    trigger = parse_event(load_sample("agent-trigger"))
    clear = parse_event(load_sample("agent-clear"))
    assert isinstance(trigger.alert, AgentAlert)
    assert trigger.alert.key == "5744505"
    assert trigger.alert.date_start == datetime.fromtimestamp(1476987748, UTC)
    assert clear.alert.date_end == datetime.fromtimestamp(1476987748, UTC)
    assert clear.transition is Transition.CLEAR


def test_webhook_test_has_no_alert():
    event = parse_event(load_sample("test"))
    assert event.alert is None and event.transition is Transition.NONE and event.known


def test_uuid_alert_id_zoned_dates_labels_and_severity_case():
    event = parse_event(load_variant("alert_trigger_uuid_zoned_labels"))
    alert = event.alert
    assert alert.alert_id == "0e4b7a52-8c1f-4d3e-9b7a-5f0c2d1e8a63"
    assert alert.severity == "MAJOR"
    # The zoned variant wins: 11:15 at +01:00 is 10:15 UTC.
    assert alert.date_start == datetime(2024, 3, 14, 10, 15, tzinfo=UTC)
    assert alert.test_labels == ("prod", "payments")
    assert alert.test_targets_description == ("https://api.example.com/health",)
    assert alert.violation_count == 3
    assert alert.agents[0].agent_id == "4492"
    assert alert.agents[0].active is True
    assert alert.agents[0].date_start == datetime.fromtimestamp(1710411300, UTC)


@pytest.mark.parametrize("severity", ["Info", "INFO", "info", " info "])
def test_severity_in_any_case(severity):
    payload = load_sample("trigger")
    payload["alert"]["severity"] = severity
    assert parse_event(payload).alert.severity == "INFO"


def test_epoch_milliseconds_and_numeric_strings():
    event = parse_event(load_variant("alert_clear_uuid_zoned"))
    agent = event.alert.agents[0]
    assert agent.date_start == datetime.fromtimestamp(1710411300, UTC)
    assert agent.date_end == datetime.fromtimestamp(1710412050, UTC)


def test_agent_notification_sent_as_alert_notification_uses_rule_and_agent_key():
    event = parse_event(load_variant("agent_alert_as_alert_notification"))
    assert isinstance(event.alert, AgentAlert)
    assert event.alert.key == "43587:25694"
    assert event.transition is Transition.TRIGGER


def test_unknown_event_type_is_kept_not_rejected():
    event = parse_event(load_variant("unknown_event_type"))
    assert not event.known and event.alert is None
    assert event.event_type == "ALERT_NOTIFICATION_SUPPRESSED"


def test_unparseable_optional_values_do_not_lose_the_alert():
    payload = load_sample("trigger")
    payload["alert"]["dateStart"] = "sometime yesterday"
    payload["alert"]["violationCount"] = "many"
    payload["alert"]["agents"].append("not an agent")
    alert = parse_event(payload).alert
    assert alert.date_start is None and alert.violation_count is None
    assert len(alert.agents) == 2


@pytest.mark.parametrize(
    "body, message",
    [
        ([], "must be a JSON object, not an array"),
        ("text", "must be a JSON object, not a string"),
        ({}, "'eventType' is missing"),
        ({"eventType": 5, "eventId": "1"}, "'eventType' must be a string"),
        ({"eventType": "WEBHOOK_TEST"}, "has no 'eventId'"),
        ({"eventType": "WEBHOOK_TEST", "eventId": ""}, "'eventId' must be a non-empty"),
        ({"eventType": "ALERT_NOTIFICATION_TRIGGER", "eventId": "1"}, "requires an 'alert' object"),
        ({"eventType": "ALERT_NOTIFICATION_CLEAR", "eventId": "1", "alert": []}, "'alert' must be an object"),
        ({"eventType": "ALERT_NOTIFICATION_CLEAR", "eventId": "1", "alert": {"ruleName": "x"}}, "has no 'alertId'"),
        ({"eventType": "AGENT_ALERT_NOTIFICATION_TRIGGER", "eventId": "1", "agentAlert": {"agentId": 1}}, "agentNotificationId"),
        ({"eventType": "ALERT_NOTIFICATION_TRIGGER", "eventId": "1", "alert": {"alertId": 1, "agents": {}}}, "'alert.agents' must be an array"),
    ],
)
def test_unusable_payloads_are_refused_with_a_reason(body, message):
    with pytest.raises(PayloadError, match=None) as error:
        parse_event(body)
    assert message in str(error.value)
