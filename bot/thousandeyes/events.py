"""Classic ThousandEyes webhook payloads as typed models.

The knowledge-base article defines five event types, but real senders drift from the
samples: ``alertId`` arrives as a number or a UUID string, ``severity`` in any case,
agent dates as epoch integers or strings, zoned date variants, extra fields, and since
October 2021 agent alerts as ALERT_NOTIFICATION_* with ``alert.type: "Agent"`` and the
agent's fields at alert level. Parsing is tolerant of all of that and strict only where
the service cannot work without a value (``eventType``, ``eventId`` and the key that
correlates a trigger with its clear).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.thousandeyes import fields
from bot.thousandeyes.fields import DateReader, json_type
from bot.thousandeyes.labels import alert_type_label
from bot.thousandeyes.models import (
    AgentAlert,
    Alert,
    AlertAgent,
    AlertKind,
    Event,
    EventType,
    PayloadError,
    TestAlert,
    Transition,
)
from bot.thousandeyes.notes import custom_notes
from bot.thousandeyes.options import DEFAULT_OPTIONS, ParseOptions

_TRANSITIONS = {
    EventType.ALERT_NOTIFICATION_TRIGGER: Transition.TRIGGER,
    EventType.AGENT_ALERT_NOTIFICATION_TRIGGER: Transition.TRIGGER,
    EventType.ALERT_NOTIFICATION_CLEAR: Transition.CLEAR,
    EventType.AGENT_ALERT_NOTIFICATION_CLEAR: Transition.CLEAR,
    EventType.WEBHOOK_TEST: Transition.NONE,
}
# Alert-level keys that only an alert on an agent or a device carries.
_AGENT_FIELDS = ("agentName", "hostname", "ipAddress", "agentAlert")
_DUPLICATES = ("agentAlert", "deviceAlert")


def parse_event(body: Any, options: ParseOptions = DEFAULT_OPTIONS) -> Event:
    """Turn a decoded JSON body into an :class:`Event`, or raise :class:`PayloadError`.

    ``options`` says what the payload leaves implicit (the account's timezone).
    """
    if not isinstance(body, dict):
        raise PayloadError(f"the body must be a JSON object, not {json_type(body)}")
    event_type = body.get("eventType")
    if event_type is None or event_type == "":
        raise PayloadError("'eventType' is missing")
    if not isinstance(event_type, str):
        raise PayloadError("'eventType' must be a string")
    if len(event_type) > 100:
        raise PayloadError("'eventType' is longer than 100 characters")
    event_id = fields.required_id(body, "eventId", "the event")
    if event_type not in EventType.__members__:
        # Stored and delivered as a generic message: ThousandEyes may add event types,
        # and an alert nobody sees is worse than an unfamiliar one.
        return Event(event_type, event_id, Transition.NONE, None, body)
    known = EventType(event_type)
    alert = _parse_alert_for(known, body, options)
    return Event(event_type, event_id, _TRANSITIONS[known], alert, body)


def _parse_alert_for(
    event_type: EventType, body: Mapping[str, Any], options: ParseOptions
) -> Alert | None:
    if event_type is EventType.WEBHOOK_TEST:
        return None
    if event_type in (
        EventType.AGENT_ALERT_NOTIFICATION_TRIGGER,
        EventType.AGENT_ALERT_NOTIFICATION_CLEAR,
    ):
        return parse_agent_alert(
            fields.required_object(body, "agentAlert", event_type.value), options)
    # Some senders deliver an agent notification as ALERT_NOTIFICATION_* with an
    # ``agentAlert`` object and no ``alert``; treat it by its content.
    if "alert" not in body and isinstance(body.get("agentAlert"), dict):
        return parse_agent_alert(body["agentAlert"], options)
    obj = fields.required_object(body, "alert", event_type.value)
    return parse_alert_object(with_duplicates(obj, body), options)


def with_duplicates(obj: Mapping[str, Any], body: Mapping[str, Any]) -> Mapping[str, Any]:
    """The alert object with the ``agentAlert``/``deviceAlert`` duplicate some senders put
    beside it (rather than inside), so the alert object alone says everything."""
    moved = {name: body[name] for name in _DUPLICATES
             if isinstance(body.get(name), dict) and name not in obj}
    return {**obj, **moved} if moved else obj


def parse_alert_object(obj: Mapping[str, Any], options: ParseOptions = DEFAULT_OPTIONS) -> Alert:
    """The ``alert`` of ALERT_NOTIFICATION_*: on a test, or on an agent or a device."""
    subject = alert_subject(obj)
    if subject == "test":
        return parse_test_alert(obj, options)
    return _parse_agent_at_alert_level(obj, subject, options)


def parse_stored_alert(
    key_kind: AlertKind, obj: Mapping[str, Any], options: ParseOptions = DEFAULT_OPTIONS
) -> Alert:
    """An alert object as stored (``bot.store.ingest.alert_payload``), read back.

    ``key_kind`` is the stored alert's kind: an ``alertId`` (TEST) alert object is read by
    its content, so alerts stored before agent alerts were recognised read right too.
    """
    if AlertKind(key_kind) is AlertKind.AGENT:
        return parse_agent_alert(obj, options)
    return parse_alert_object(obj, options)


def alert_subject(obj: Mapping[str, Any]) -> str:
    """"test", "agent" or "device": what an ``alert`` object is about.

    By its type when ThousandEyes names one we know; else by its fields: agent fields at
    alert level and no test make an agent alert.
    """
    if isinstance(obj.get("deviceAlert"), dict):
        return "device"
    label = alert_type_label(obj.get("type"))
    if label.known:
        return label.subject
    has_test = any(obj.get(name) not in (None, "", []) for name in ("testId", "testName", "agents"))
    if not has_test and any(obj.get(name) not in (None, "") for name in _AGENT_FIELDS):
        return "agent"
    return "test"


def parse_test_alert(obj: Mapping[str, Any], options: ParseOptions = DEFAULT_OPTIONS) -> TestAlert:
    """A test alert; its sources are the ``agents`` that saw it, or for BGP tests the
    ``monitors`` (classic BGP alerts carry those and no agents)."""
    dates = DateReader.for_alert(obj, options)
    agents = tuple(
        _parse_alert_agent(agent, dates.for_part())
        for name in ("agents", "monitors")
        for agent in _sources(obj, name)
        if isinstance(agent, dict)
    )
    active, rule_changed = fields.activity(obj.get("active"))
    return TestAlert(
        alert_id=fields.required_id(obj, "alertId", "'alert'"),
        rule_id=fields.optional_id(obj, "ruleId"),
        rule_name=fields.text(obj, "ruleName"),
        rule_expression=fields.text(obj, "ruleExpression"),
        test_id=fields.optional_id(obj, "testId"),
        test_name=fields.text(obj, "testName"),
        alert_type=fields.text(obj, "type"),
        severity=fields.severity(obj.get("severity")),
        date_start=dates.read(obj, "dateStart"),
        date_end=dates.read(obj, "dateEnd"),
        violation_count=fields.integer(obj, "violationCount"),
        permalink=fields.text(obj, "permalink"),
        test_labels=fields.labels(obj.get("testLabels")),
        test_targets_description=fields.labels(obj.get("testTargetsDescription")),
        agents=agents,
        rule_changed=rule_changed or any(agent.rule_changed for agent in agents),
        notes=custom_notes(obj),
        unplaced_dates=tuple(dates.unplaced),
    )


def _sources(obj: Mapping[str, Any], name: str) -> list[Any]:
    value = obj.get(name)
    if value is not None and not isinstance(value, list):
        raise PayloadError(f"'alert.{name}' must be an array, not {json_type(value)}")
    return value or []


def _parse_alert_agent(obj: Mapping[str, Any], dates: DateReader) -> AlertAgent:
    """An element of ``agents``, or of ``monitors`` (``monitorId``, ``monitorName``,
    ``network``, ``prefix``)."""
    active, rule_changed = fields.activity(obj.get("active"))
    return AlertAgent(
        agent_id=fields.optional_id(obj, "agentId") or fields.optional_id(obj, "monitorId"),
        agent_name=fields.text(obj, "agentName") or fields.text(obj, "monitorName"),
        location_name=fields.text(obj, "locationName") or fields.text(obj, "network"),
        date_start=dates.read(obj, "dateStart"),
        date_end=dates.read(obj, "dateEnd"),
        active=active,
        metrics_at_start=fields.text(obj, "metricsAtStart"),
        metrics_at_end=fields.text(obj, "metricsAtEnd"),
        permalink=fields.text(obj, "permalink"),
        rule_changed=rule_changed,
        prefix=fields.text(obj, "prefix"),
    )


def parse_agent_alert(obj: Mapping[str, Any], options: ParseOptions = DEFAULT_OPTIONS) -> AgentAlert:
    """The ``agentAlert`` object of AGENT_ALERT_NOTIFICATION_*."""
    alert = _agent_alert(obj, obj, "agent", options)
    if alert.notification_id is None and (alert.agent_rule_id is None or alert.agent_id is None):
        raise PayloadError(
            "'agentAlert' needs 'agentNotificationId', or both 'agentRuleId' and 'agentId',"
            " to match a trigger with its clear"
        )
    if len(alert.key) > 200:
        raise PayloadError("the agent alert's key ('agentRuleId:agentId') is over 200 characters")
    return alert


def _parse_agent_at_alert_level(
    obj: Mapping[str, Any], subject: str, options: ParseOptions
) -> AgentAlert:
    """ALERT_NOTIFICATION_* on an agent or a device: keyed by ``alertId`` like every alert
    of that event type (the trigger and its clear both carry it, while the duplicated
    ``agentAlert`` object's notification id may differ). The alert level is what
    ThousandEyes documents; the duplicate fills only what the alert level lacks."""
    duplicate = fields.optional_object(obj, "deviceAlert" if subject == "device" else "agentAlert")
    merged = {**duplicate, **{k: v for k, v in obj.items() if v not in (None, "")}}
    for name in ("dateStart", "dateEnd"):
        # The duplicate's epoch names the instant; an unzoned alert-level date is only a
        # local time in a zone the payload does not name.
        if obj.get(f"{name}Zoned") in (None, "") and duplicate.get(name) not in (None, ""):
            merged[name] = duplicate[name]
    return _agent_alert(merged, obj, subject, options,
                        alert_id=fields.required_id(obj, "alertId", "'alert'"))


def _agent_alert(
    values: Mapping[str, Any], alert_obj: Mapping[str, Any], subject: str,
    options: ParseOptions, alert_id: str | None = None,
) -> AgentAlert:
    """An agent or device alert from ``values``; ``alert_obj`` is the object ThousandEyes
    sent as the alert (its own keys: type, permalink, a user's notes)."""
    dates = DateReader.for_alert(values, options)
    active, rule_changed = fields.activity(values.get("active"))

    def first(*names: str) -> str:
        return next((value for value in (fields.text(values, n) for n in names) if value), "")

    def first_id(*names: str) -> str | None:
        return next((value for value in (fields.optional_id(values, n) for n in names)
                     if value), None)

    return AgentAlert(
        notification_id=fields.optional_id(values, "agentNotificationId"),
        agent_rule_id=first_id("agentRuleId", "ruleId"),
        agent_id=first_id("agentId", "deviceId"),
        agent_name=first("agentName", "deviceName", "hostname"),
        hostname=fields.text(values, "hostname"),
        ip_address=first("ipAddress", "managementIpAddress", "managementIp"),
        active=active,
        rule_name=fields.text(values, "ruleName"),
        rule_expression=fields.text(values, "ruleExpression"),
        date_start=dates.read(values, "dateStart"),
        date_end=dates.read(values, "dateEnd"),
        metrics_at_start=fields.text(values, "metricsAtStart"),
        metrics_at_end=fields.text(values, "metricsAtEnd"),
        alert_id=alert_id,
        subject=subject,
        alert_type=fields.text(alert_obj, "type"),
        severity=fields.severity(values.get("severity")),
        permalink=fields.text(alert_obj, "permalink"),
        interface_name=first("interfaceName", "interface"),
        rule_changed=rule_changed,
        notes=custom_notes(alert_obj),
        unplaced_dates=tuple(dates.unplaced),
    )

