"""ThousandEyes webhook payloads as typed models.

The knowledge-base article defines five event types, but real senders drift from the
samples: ``alertId`` arrives as a number or a UUID string, ``severity`` in any case,
agent dates as epoch integers or strings, zoned date variants, extra fields. Parsing is
tolerant of all of that and strict only where the service cannot work without a value
(``eventType``, ``eventId`` and the key that correlates a trigger with its clear).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from bot.thousandeyes.dates import parse_te_datetime


class PayloadError(ValueError):
    """The body is JSON but not a usable ThousandEyes event; the message says why."""


class EventType(str, enum.Enum):
    WEBHOOK_TEST = "WEBHOOK_TEST"
    ALERT_NOTIFICATION_TRIGGER = "ALERT_NOTIFICATION_TRIGGER"
    ALERT_NOTIFICATION_CLEAR = "ALERT_NOTIFICATION_CLEAR"
    AGENT_ALERT_NOTIFICATION_TRIGGER = "AGENT_ALERT_NOTIFICATION_TRIGGER"
    AGENT_ALERT_NOTIFICATION_CLEAR = "AGENT_ALERT_NOTIFICATION_CLEAR"


class AlertKind(str, enum.Enum):
    TEST = "test"  # a test alert: correlated by alertId
    AGENT = "agent"  # an agent notification: correlated by agentNotificationId


class Transition(str, enum.Enum):
    """What an event does to its alert."""

    TRIGGER = "trigger"
    CLEAR = "clear"
    NONE = "none"  # WEBHOOK_TEST and unknown event types carry no alert


@dataclass(frozen=True)
class AlertAgent:
    """One agent's view of a test alert."""

    agent_id: str | None
    agent_name: str
    location_name: str
    date_start: datetime | None
    date_end: datetime | None
    active: bool | None
    metrics_at_start: str
    metrics_at_end: str
    permalink: str


@dataclass(frozen=True)
class TestAlert:
    """A test alert (``alert`` object of ALERT_NOTIFICATION_*)."""

    __test__ = False  # not a pytest test class, despite the name

    alert_id: str
    rule_id: str | None
    rule_name: str
    rule_expression: str
    test_id: str | None
    test_name: str
    alert_type: str
    severity: str | None  # normalised upper case: INFO, MINOR, MAJOR, CRITICAL, ...
    date_start: datetime | None
    date_end: datetime | None
    violation_count: int | None
    permalink: str
    test_labels: tuple[str, ...]
    test_targets_description: tuple[str, ...]
    agents: tuple[AlertAgent, ...]

    @property
    def key(self) -> str:
        return self.alert_id


@dataclass(frozen=True)
class AgentAlert:
    """An agent notification (``agentAlert`` object of AGENT_ALERT_NOTIFICATION_*)."""

    notification_id: str | None
    agent_rule_id: str | None
    agent_id: str | None
    agent_name: str
    hostname: str
    ip_address: str
    active: bool | None
    rule_name: str
    rule_expression: str
    date_start: datetime | None
    date_end: datetime | None
    metrics_at_start: str
    metrics_at_end: str

    @property
    def key(self) -> str:
        if self.notification_id:
            return self.notification_id
        return f"{self.agent_rule_id}:{self.agent_id}"


Alert = TestAlert | AgentAlert


@dataclass(frozen=True)
class Event:
    """One webhook delivery from ThousandEyes."""

    event_type: str  # as sent; may be a type this service does not know
    event_id: str
    transition: Transition
    alert: Alert | None
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def known(self) -> bool:
        return self.event_type in EventType.__members__

    @property
    def alert_kind(self) -> AlertKind | None:
        if isinstance(self.alert, TestAlert):
            return AlertKind.TEST
        if isinstance(self.alert, AgentAlert):
            return AlertKind.AGENT
        return None


_TRANSITIONS = {
    EventType.ALERT_NOTIFICATION_TRIGGER: Transition.TRIGGER,
    EventType.AGENT_ALERT_NOTIFICATION_TRIGGER: Transition.TRIGGER,
    EventType.ALERT_NOTIFICATION_CLEAR: Transition.CLEAR,
    EventType.AGENT_ALERT_NOTIFICATION_CLEAR: Transition.CLEAR,
    EventType.WEBHOOK_TEST: Transition.NONE,
}


def parse_event(body: Any) -> Event:
    """Turn a decoded JSON body into an :class:`Event`, or raise :class:`PayloadError`."""
    if not isinstance(body, dict):
        raise PayloadError(f"the body must be a JSON object, not {json_type(body)}")
    event_type = body.get("eventType")
    if event_type is None or event_type == "":
        raise PayloadError("'eventType' is missing")
    if not isinstance(event_type, str):
        raise PayloadError("'eventType' must be a string")
    if len(event_type) > 100:
        raise PayloadError("'eventType' is longer than 100 characters")
    event_id = _required_id(body, "eventId", "the event")
    if event_type not in EventType.__members__:
        # Stored and delivered as a generic message: ThousandEyes may add event types,
        # and an alert nobody sees is worse than an unfamiliar one.
        return Event(event_type, event_id, Transition.NONE, None, body)
    known = EventType(event_type)
    alert = _parse_alert_for(known, body)
    return Event(event_type, event_id, _TRANSITIONS[known], alert, body)


def _parse_alert_for(event_type: EventType, body: Mapping[str, Any]) -> Alert | None:
    if event_type is EventType.WEBHOOK_TEST:
        return None
    if event_type in (
        EventType.AGENT_ALERT_NOTIFICATION_TRIGGER,
        EventType.AGENT_ALERT_NOTIFICATION_CLEAR,
    ):
        return parse_agent_alert(_required_object(body, "agentAlert", event_type.value))
    # Some senders deliver an agent notification as ALERT_NOTIFICATION_* with an
    # ``agentAlert`` object and no ``alert``; treat it by its content.
    if "alert" not in body and isinstance(body.get("agentAlert"), dict):
        return parse_agent_alert(body["agentAlert"])
    return parse_test_alert(_required_object(body, "alert", event_type.value))


def parse_test_alert(obj: Mapping[str, Any]) -> TestAlert:
    agents_raw = obj.get("agents")
    if agents_raw is not None and not isinstance(agents_raw, list):
        raise PayloadError(f"'alert.agents' must be an array, not {json_type(agents_raw)}")
    agents = [
        _parse_alert_agent(agent)
        for agent in agents_raw or []
        if isinstance(agent, dict)
    ]
    return TestAlert(
        alert_id=_required_id(obj, "alertId", "'alert'"),
        rule_id=_optional_id(obj, "ruleId"),
        rule_name=_text(obj, "ruleName"),
        rule_expression=_text(obj, "ruleExpression"),
        test_id=_optional_id(obj, "testId"),
        test_name=_text(obj, "testName"),
        alert_type=_text(obj, "type"),
        severity=_severity(obj.get("severity")),
        date_start=_date(obj, "dateStart"),
        date_end=_date(obj, "dateEnd"),
        violation_count=_int(obj, "violationCount"),
        permalink=_text(obj, "permalink"),
        test_labels=_labels(obj.get("testLabels")),
        test_targets_description=_labels(obj.get("testTargetsDescription")),
        agents=tuple(agents),
    )


def _parse_alert_agent(obj: Mapping[str, Any]) -> AlertAgent:
    return AlertAgent(
        agent_id=_optional_id(obj, "agentId"),
        agent_name=_text(obj, "agentName"),
        location_name=_text(obj, "locationName"),
        date_start=_date(obj, "dateStart"),
        date_end=_date(obj, "dateEnd"),
        active=_flag(obj.get("active")),
        metrics_at_start=_text(obj, "metricsAtStart"),
        metrics_at_end=_text(obj, "metricsAtEnd"),
        permalink=_text(obj, "permalink"),
    )


def parse_agent_alert(obj: Mapping[str, Any]) -> AgentAlert:
    alert = AgentAlert(
        notification_id=_optional_id(obj, "agentNotificationId"),
        agent_rule_id=_optional_id(obj, "agentRuleId"),
        agent_id=_optional_id(obj, "agentId"),
        agent_name=_text(obj, "agentName"),
        hostname=_text(obj, "hostname"),
        ip_address=_text(obj, "ipAddress"),
        active=_flag(obj.get("active")),
        rule_name=_text(obj, "ruleName"),
        rule_expression=_text(obj, "ruleExpression"),
        date_start=_date(obj, "dateStart"),
        date_end=_date(obj, "dateEnd"),
        metrics_at_start=_text(obj, "metricsAtStart"),
        metrics_at_end=_text(obj, "metricsAtEnd"),
    )
    if alert.notification_id is None and (alert.agent_rule_id is None or alert.agent_id is None):
        raise PayloadError(
            "'agentAlert' needs 'agentNotificationId', or both 'agentRuleId' and 'agentId',"
            " to match a trigger with its clear"
        )
    if len(alert.key) > 200:
        raise PayloadError("the agent alert's key ('agentRuleId:agentId') is over 200 characters")
    return alert


# --- field helpers -------------------------------------------------------------------


def json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if value is None:
        return "null"
    return type(value).__name__


def _required_object(body: Mapping[str, Any], name: str, owner: str) -> Mapping[str, Any]:
    value = body.get(name)
    if value is None:
        raise PayloadError(f"{owner} requires an '{name}' object")
    if not isinstance(value, dict):
        raise PayloadError(f"'{name}' must be an object, not {json_type(value)}")
    return value


def id_text(value: Any) -> str | None:
    """Ids arrive as numbers or strings (UUIDs); keep them as strings either way."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        # NULs go first, so an id made only of them is no id at all.
        cleaned = value.replace("\x00", "").strip()
        return cleaned or None
    return None


def _required_id(obj: Mapping[str, Any], name: str, owner: str) -> str:
    if name not in obj or obj[name] is None:
        raise PayloadError(f"{owner} has no '{name}'")
    value = id_text(obj[name])
    if value is None:
        raise PayloadError(f"'{name}' must be a non-empty string or an integer")
    if len(value) > 200:
        raise PayloadError(f"'{name}' is longer than 200 characters")
    return value


def _optional_id(obj: Mapping[str, Any], name: str) -> str | None:
    value = id_text(obj.get(name))
    return value[:200] if value else None


def _text(obj: Mapping[str, Any], name: str) -> str:
    value = obj.get(name)
    if value is None:
        return ""
    if isinstance(value, str):
        # NUL has no place in a name and PostgreSQL text cannot hold it.
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return ""


def _int(obj: Mapping[str, Any], name: str) -> int | None:
    value = obj.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None  # shown as unknown rather than refusing the alert


def _flag(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _severity(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().upper()


def _labels(value: Any) -> tuple[str, ...]:
    """``testLabels`` is a list of strings or of ``{"name": ...}`` objects in the wild."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if not isinstance(value, list):
        return ()
    labels = []
    for item in value:
        if isinstance(item, str) and item.strip():
            labels.append(item.strip())
        elif isinstance(item, dict):
            name = item.get("name") or item.get("label")
            if isinstance(name, str) and name.strip():
                labels.append(name.strip())
    return tuple(labels)


def _date(obj: Mapping[str, Any], name: str) -> datetime | None:
    """Prefer the zoned variant when a sender gives one; it says which zone it means."""
    for candidate in (f"{name}Zoned", name):
        value = obj.get(candidate)
        if value is None or value == "":
            continue
        parsed = parse_te_datetime(value)
        if parsed is not None:
            return parsed
        # An odd date must not cost the user the alert: show it without a start time.
    return None


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
