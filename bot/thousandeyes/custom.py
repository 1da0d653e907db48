"""ThousandEyes *custom* webhooks (Handlebars templates) as the classic :class:`Event`.

A custom webhook's body is whatever the user's template renders from the notification
object (docs.thousandeyes.com .../custom-webhooks/webhook-vars), so the keys are the
user's choice. We accept the shape of ThousandEyes' "Generic" preset and of our own
template (docs/custom-webhook-template.hbs), plus reasonable drift: numbers as strings,
epoch seconds or milliseconds, ISO dates, ``{"id": ...}`` enumerations, missing optional
fields and extra keys. We are strict only where the service cannot work without a value:
the notification type (trigger or clear) and ``alert.id``, which correlates a trigger
with its clear exactly as the classic ``alertId`` does.

The result is the same :class:`~bot.thousandeyes.Event` the classic parser returns
(event type ALERT_NOTIFICATION_TRIGGER / _CLEAR, a :class:`TestAlert`), so both kinds
thread and acknowledge the same way. The store and the delivery worker re-parse what was
stored with the classic parser; :func:`to_classic_body` gives the body to store so they
keep working unchanged.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from bot.thousandeyes.dates import parse_te_datetime
from bot.thousandeyes.fields import id_text, json_type
from bot.thousandeyes.models import (
    AlertAgent,
    Event,
    EventType,
    PayloadError,
    TestAlert,
    Transition,
)
from bot.thousandeyes.options import DEFAULT_OPTIONS, ParseOptions

_PREFIX = "custom webhook: "
_TRIGGER_NAMES = {"2", "trigger", "triggered", "alert_notification_trigger"}
_CLEAR_NAMES = {"1", "clear", "cleared", "alert_notification_clear"}
_ACTIVE = {"active", "trigger", "triggered", "true", "1", "yes"}
_INACTIVE = {"cleared", "clear", "inactive", "false", "0", "no"}


def is_custom_webhook(body: object) -> bool:
    """True when ``body`` should go to :func:`parse_custom_event`, not the classic parser.

    Classic bodies always carry ``eventType``; a custom notification has none and is
    built around ``alert`` and ``type``. Either key is enough to route here, so a broken
    custom template gets an error about *its* fields rather than "'eventType' is missing";
    so is the shape of a chat or SIEM preset's message, so its sender learns which preset
    to pick instead.
    """
    if not isinstance(body, dict) or "eventType" in body:
        return False
    return "alert" in body or "type" in body or preset_of(body) is not None


# What each of ThousandEyes' other presets renders: a message in the documented incoming-
# webhook shape of the service it is for. Read in order: a Teams adaptive card also has
# ``attachments``, as Slack's legacy messages do, but only Teams' says ``type: message``.
_PRESET_SHAPES: tuple[tuple[str, Callable[[Mapping[str, Any]], bool]], ...] = (
    ("Microsoft Teams", lambda body: "@type" in body or "@context" in body
     or (body.get("type") == "message" and "attachments" in body)),
    ("Slack", lambda body: "blocks" in body or "attachments" in body
     or isinstance(body.get("text"), str)),
    ("Webex", lambda body: "markdown" in body or "roomId" in body or "html" in body),
    ("Splunk", lambda body: "event" in body
     and any(key in body for key in ("sourcetype", "source", "index", "host", "time"))),
)


def preset_of(body: Mapping[str, Any]) -> str | None:
    """The ThousandEyes preset a body without ``alert`` was rendered by, if it looks like
    one of the chat or SIEM presets; ``None`` otherwise."""
    if "alert" in body:
        return None
    return next((name for name, looks_like in _PRESET_SHAPES if looks_like(body)), None)


def parse_custom_event(body: Mapping[str, Any], options: ParseOptions = DEFAULT_OPTIONS) -> Event:
    """Turn a decoded custom-webhook body into an :class:`Event`, or raise PayloadError.

    ``options`` gives the zone of dates a template renders without one.
    """
    if not isinstance(body, dict):
        raise PayloadError(f"{_PREFIX}the body must be a JSON object, not {_kind(body)}")
    preset = preset_of(body)
    if preset is not None:
        raise PayloadError(f"{_PREFIX}this is ThousandEyes' {preset} preset, which sends no"
                           " 'alert' object: pick the Generic preset, or paste"
                           " docs/custom-webhook-template.hbs as the body")
    transition = _transition(body)
    if "alert" not in body or body["alert"] is None:
        raise PayloadError(f"{_PREFIX}the 'alert' object is missing")
    alert = _test_alert(_object(body, "alert", "alert"), _Dates(options))
    event_type = (EventType.ALERT_NOTIFICATION_TRIGGER if transition is Transition.TRIGGER
                  else EventType.ALERT_NOTIFICATION_CLEAR)
    return Event(event_type.value, _event_id(body, alert, transition), transition, alert, body)


def to_classic_body(event: Event) -> dict[str, Any]:
    """The classic-webhook body equivalent to a parsed custom ``event``.

    ``parse_event`` of the result gives the same event type, id, transition and alert
    (and ``parse_test_alert`` of its ``alert`` the same alert), so storing this instead of
    the custom body lets everything that re-reads stored events work unchanged. The
    original body is kept under ``customWebhook``; the classic parser ignores it.
    """
    alert = event.alert
    if not isinstance(alert, TestAlert):
        raise ValueError("to_classic_body needs an event from parse_custom_event")
    # A date that could not be placed is kept as sent: read again, it is unplaced again.
    unplaced = dict(alert.unplaced_dates)
    classic: dict[str, Any] = {
        "alertId": alert.alert_id, "ruleId": alert.rule_id, "ruleName": alert.rule_name,
        "ruleExpression": alert.rule_expression, "testId": alert.test_id,
        "testName": alert.test_name, "type": alert.alert_type, "severity": alert.severity,
        "dateStart": _iso(alert.date_start) or unplaced.get("dateStart"),
        "dateEnd": _iso(alert.date_end) or unplaced.get("dateEnd"),
        "violationCount": alert.violation_count, "permalink": alert.permalink,
        "testLabels": list(alert.test_labels),
        "testTargetsDescription": list(alert.test_targets_description),
        "agents": [_classic_agent(agent) for agent in alert.agents],
    }
    return {
        "eventType": event.event_type,
        "eventId": event.event_id,
        "alert": {key: value for key, value in classic.items() if value is not None},
        "customWebhook": dict(event.raw),
    }


# --- the notification --------------------------------------------------------------


def _transition(body: Mapping[str, Any]) -> Transition:
    """``type.id`` is 1 (clear) or 2 (trigger); templates render it quoted, bare or by name."""
    if "type" not in body or body["type"] is None or body["type"] == "":
        raise PayloadError(f"{_PREFIX}'type' is missing; render it with"
                           " \"type\": \"{{type.id}}\" (1 = clear, 2 = trigger)")
    value = body["type"]
    if isinstance(value, dict):
        value = value.get("id", value.get("name"))
    name = None
    if isinstance(value, str):
        name = value.strip().lower()
    elif isinstance(value, int) and not isinstance(value, bool):
        name = str(value) if abs(value) < 10 else None
    elif isinstance(value, float) and value.is_integer() and abs(value) < 10:
        name = str(int(value))
    if name in _TRIGGER_NAMES:
        return Transition.TRIGGER
    if name in _CLEAR_NAMES:
        return Transition.CLEAR
    raise PayloadError(f"{_PREFIX}'type' must be 2 (trigger) or 1 (clear), or the name"
                       f" \"Trigger\"/\"Clear\", not {value!r}"[:300])


def _event_id(body: Mapping[str, Any], alert: TestAlert, transition: Transition) -> str:
    """The notification ``id`` and the transition; retries repeat both, so duplicates are
    recognised. The transition is part of it because the documentation does not promise
    that a clear's notification id differs from its trigger's, and a clear wrongly
    taken for a duplicate would leave the alert open in Slack."""
    for name in ("id", "notificationId", "eventId"):
        value = body.get(name)
        if isinstance(value, (dict, list, bool)):
            raise PayloadError(f"{_PREFIX}'{name}' must be a string or a number,"
                               f" not {_kind(value)}")
        text = id_text(value)
        if text:
            return f"{text[:180]}:{transition.value}"
    # The template sent no notification id. Derive one from what identifies this
    # notification, so a retried delivery gets the same id (and is answered as a
    # duplicate) while the trigger and the clear of one alert get different ids.
    seed = "|".join((alert.alert_id, transition.value, _iso(alert.date_start) or "",
                     _iso(alert.date_end) or ""))
    return "custom-" + hashlib.sha256(seed.encode("utf-8")).hexdigest()[:32]


def _test_alert(obj: Mapping[str, Any], dates: _Dates) -> TestAlert:
    alert_id = id_text(_pick(obj, "id", "alertId"))
    if alert_id is None:
        if _pick(obj, "id", "alertId") is None:
            raise PayloadError(f"{_PREFIX}'alert.id' is missing; it matches a clear to its trigger")
        raise PayloadError(f"{_PREFIX}'alert.id' must be a non-empty string or an integer")
    if len(alert_id) > 200:
        raise PayloadError(f"{_PREFIX}'alert.id' is longer than 200 characters")
    rule = _object(obj, "rule", "alert.rule")
    test = _object(obj, "test", "alert.test")
    details = obj.get("details", obj.get("agents"))
    if details is not None and not isinstance(details, list):
        raise PayloadError(f"{_PREFIX}'alert.details' must be an array, not {_kind(details)}")
    agents = [_agent(item, f"alert.details[{index}]", dates)
              for index, item in enumerate(details or []) if isinstance(item, dict)]
    return TestAlert(
        alert_id=alert_id,
        rule_id=_short_id(_pick(rule, "id") or _pick(obj, "ruleId")),
        rule_name=_text(_pick(rule, "name") or _pick(obj, "ruleName")),
        rule_expression=_text(_pick(rule, "expression") or _pick(obj, "ruleExpression")),
        test_id=_short_id(_pick(test, "id") or _pick(obj, "testId")),
        test_name=_text(_pick(test, "name") or _pick(obj, "testName")),
        alert_type=_text(_pick(obj, "type", "alertType") or _pick(rule, "alertType")
                         or _pick(test, "type", "testType")),
        severity=_severity(_pick(obj, "severity")),
        date_start=dates.read("dateStart", _pick(obj, "triggered", "firstSeen", "dateStart",
                                                 "startTime")),
        date_end=dates.read("dateEnd", _pick(obj, "cleared", "timeCleared", "dateEnd", "endTime")),
        violation_count=_count(obj.get("violationCount")),
        permalink=_text(_pick(obj, "link", "permalink", "url")),
        test_labels=_names(_pick(test, "labels") or _pick(obj, "labels", "testLabels"),
                           "alert.test.labels", ","),
        test_targets_description=_names(_pick(obj, "targets", "testTargetsDescription"),
                                        "alert.targets", ", "),
        agents=tuple(agents),
        unplaced_dates=tuple(dates.unplaced),
    )


def _agent(obj: Mapping[str, Any], where: str, dates: _Dates) -> AlertAgent:
    """One ``alert.details`` element: an agent (or a BGP monitor) that saw the alert."""
    source = obj.get("source", obj.get("agent", obj.get("monitor")))
    if isinstance(source, str):
        source = {"name": source}
    elif source is None:
        source = {}
    elif not isinstance(source, dict):
        raise PayloadError(f"{_PREFIX}'{where}.source' must be an object, not {_kind(source)}")
    # BGP monitors have an AS rather than a location; show it where the location goes.
    location = _pick(obj, "location", "locationName") or _pick(source, "location") or \
        _pick(source, "asn")
    return AlertAgent(
        agent_id=_short_id(_pick(source, "id") or _pick(obj, "agentId", "id")),
        agent_name=_text(_pick(source, "name") or _pick(obj, "agentName", "name")),
        location_name=_text(location),
        date_start=dates.read("", _pick(obj, "start", "startTime", "firstSeen", "dateStart")),
        date_end=dates.read("", _pick(obj, "end", "endTime", "timeCleared", "dateEnd")),
        active=_active(_pick(obj, "active", "state")),
        metrics_at_start=_text(_pick(obj, "metricsAtStart")),
        metrics_at_end=_text(_pick(obj, "metricsAtEnd")),
        permalink=_text(_pick(obj, "link", "permalink")),
        prefix=_text(_pick(obj, "prefix") or _pick(source, "prefix")),
    )


def _classic_agent(agent: AlertAgent) -> dict[str, Any]:
    classic = {
        "agentId": agent.agent_id, "agentName": agent.agent_name,
        "locationName": agent.location_name, "dateStart": _iso(agent.date_start),
        "dateEnd": _iso(agent.date_end), "active": agent.active,
        "metricsAtStart": agent.metrics_at_start, "metricsAtEnd": agent.metrics_at_end,
        "permalink": agent.permalink, "prefix": agent.prefix or None,
    }
    return {key: value for key, value in classic.items() if value is not None}


# --- field helpers (tolerant: an odd optional value must not cost the user the alert) ---


def _object(obj: Mapping[str, Any], name: str, where: str) -> Mapping[str, Any]:
    value = obj.get(name)
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise PayloadError(f"{_PREFIX}'{where}' must be an object, not {_kind(value)}")
    return value


def _pick(obj: Mapping[str, Any], *names: str) -> Any:
    """The first of ``names`` with a value; empty strings count as absent (unset variables)."""
    for name in names:
        value = obj.get(name)
        if value is not None and value != "" and value != {}:
            return value
    return None


def _unwrap(value: Any) -> Any:
    """Enumerations may be rendered as objects: ``{"id": "MAJOR"}`` or ``{"name": ...}``."""
    if isinstance(value, dict):
        return _pick(value, "id", "name", "description")
    return value


def _text(value: Any) -> str:
    """Display text. Standard Handlebars HTML-escapes ``{{ }}`` output; ThousandEyes says it
    does not escape payloads, but if it ever does, ``&amp;`` must not reach Slack or a link."""
    value = _unwrap(value)
    if isinstance(value, str):
        return html.unescape(value).strip()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return ""


def _short_id(value: Any) -> str | None:
    text = id_text(_unwrap(value))
    return text[:200] if text else None


def _severity(value: Any) -> str | None:
    text = _text(value)
    return text.upper() if text else None


def _count(value: Any) -> int | None:
    try:
        return None if value is None or isinstance(value, bool) or value == "" else int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _active(value: Any) -> bool | None:
    if isinstance(value, str):
        name = value.strip().lower()
        return True if name in _ACTIVE else False if name in _INACTIVE else None
    return None if value is None else bool(value)


class _Dates:
    """Epoch seconds or milliseconds (numbers or strings), ISO 8601, ``{epochMilli: ...}``,
    or local times in THOUSANDEYES_TIMEZONE; remembers the alert's dates it could not
    place, so the message says the time shown is when the event arrived."""

    def __init__(self, options: ParseOptions) -> None:
        self.options = options
        self.unplaced: list[tuple[str, str]] = []

    def read(self, name: str, value: Any) -> datetime | None:
        """``name`` is the classic field it stands for; "" for dates not worth a mention."""
        if isinstance(value, dict):
            value = _pick(value, "epochMilli", "epochSecond", "iso", "date")
        if value is None or value in (0, "0"):
            return None  # absent, or an unset epoch rather than 1970
        instant = parse_te_datetime(value, self.options)
        if instant is None and name:
            self.unplaced.append((name, str(value)[:200]))
        return instant


def _names(value: Any, where: str, separator: str) -> tuple[str, ...]:
    """A list of strings or ``{"name"|"description": ...}`` objects, or one joined string."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(part for part in (_text(p) for p in value.split(separator)) if part)
    if not isinstance(value, list):
        raise PayloadError(f"{_PREFIX}'{where}' must be an array, not {_kind(value)}")
    items = (_pick(item, "name", "description", "label") if isinstance(item, dict) else item
             for item in value)
    return tuple(name for name in (_text(item) for item in items) if name)


def _kind(value: Any) -> str:
    return "an object" if isinstance(value, dict) else json_type(value)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
