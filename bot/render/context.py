"""Stage one of two-stage rendering: an alert view or an event -> its typed context.

The contexts (:mod:`bot.render.context_types`) hold plain values only: str, int, bool,
None, datetime, lists; no store objects, no network, no Block Kit. Every field is always
set (empty string, None or empty list when it does not apply), so a template can use any
variable without guarding against Undefined. Template authors read them in
``docs/templates.md`` (a test checks that each variable is listed there).
"""

from __future__ import annotations

import json
import logging
from dataclasses import fields as dataclass_fields
from datetime import datetime, timedelta
from typing import Any, TypedDict

from bot.render import actions, wording
from bot.render.context_types import (
    AckNoteContext,
    AgentContext,
    AlertContext,
    EventContext,
    ReminderContext,
    ResponderContext,
)
from bot.render.escaping import notify_mention, safe_url
from bot.render.timefmt import human_duration, seconds_between
from bot.render.view import AlertView, DisplayState, Responder
from bot.thousandeyes import AgentAlert, AlertAgent, AlertKind, Event, TestAlert
from bot.thousandeyes.labels import alert_type_label

log = logging.getLogger(__name__)

MAX_AGENTS_SHOWN = 10  # ten agents read at a glance; the rest are one click away
MAX_RESPONDERS_SHOWN = 10
EXCERPT_LIMIT = 1500
# Where agent alerts without a permalink link to: ThousandEyes' list of alerts (a link
# built with alertId would need the account group id, which payloads do not carry).
ALERT_LIST_URL = "https://app.thousandeyes.com/alerts/list"
VIEW_LABEL = "View in ThousandEyes"
ALERT_LIST_LABEL = "ThousandEyes alerts"

def alert_context(view: AlertView) -> AlertContext:
    """Everything a parent, clear reply or thread note may show about one alert."""
    state = DisplayState(view.state)
    alert = view.alert
    is_cleared = state is DisplayState.CLEARED
    rule_changed = is_cleared and alert.rule_changed
    placed_start = view.triggered_at or alert.date_start
    started_at = placed_start or view.first_seen_at
    cleared_at = (view.cleared_at or alert.date_end) if is_cleared else None
    duration_seconds = seconds_between(started_at, cleared_at)
    first_ack = view.first_acknowledged_at or min(
        (r.acknowledged_at for r in view.responders), default=None
    )
    tta_seconds = seconds_between(started_at, first_ack)
    responders = sorted(view.responders, key=lambda r: r.acknowledged_at)
    is_stale = view.stale_since is not None and not is_cleared
    type_label = alert_type_label(alert.alert_type)
    subject = _test_fields(alert) if isinstance(alert, TestAlert) else _empty_test_fields()
    subject.update(_agent_fields(alert) if isinstance(alert, AgentAlert) else _empty_agent_fields())
    alert_type_text = type_label.label if alert.alert_type else ""
    if alert_type_text == subject["subject_label"]:
        alert_type_text = ""  # "Agent: …" already says it
    return AlertContext(
        kind=AlertKind(view.kind).value,
        **state_fields(state, rule_changed),
        is_cleared=is_cleared,
        rule_changed=rule_changed,
        clear_explanation=wording.RULE_CHANGED if rule_changed else "",
        alert_ref=view.alert_ref,
        actions=dict(actions.TEMPLATE_ACTION_IDS),
        rule_name=alert.rule_name,
        rule_expression=alert.rule_expression,
        alert_type=alert.alert_type,
        alert_type_label=alert_type_text,
        sources_label=type_label.sources or "Agents",
        severity=alert.severity or "",
        notes=wording.note_items(alert.notes),
        started_at=started_at,
        started_note="" if placed_start else wording.received_note(
            "dateStart", alert.unplaced_dates, "start"),
        last_started_at=alert.date_start or started_at,
        cleared_at=cleared_at,
        cleared_note=wording.received_note("dateEnd", alert.unplaced_dates, "end")
        if is_cleared and alert.date_end is None else "",
        first_seen_at=view.first_seen_at,
        last_event_at=view.last_event_at,
        is_stale=is_stale,
        stale_hint=wording.STALE_HINT if is_stale else "",
        duration=human_duration(duration_seconds),
        duration_seconds=duration_seconds,
        responders=[responder_context(r, started_at) for r in responders[:MAX_RESPONDERS_SHOWN]],
        responders_total=len(responders),
        responders_more=max(0, len(responders) - MAX_RESPONDERS_SHOWN),
        first_acknowledged_at=first_ack,
        time_to_acknowledge=human_duration(tta_seconds),
        time_to_acknowledge_seconds=tta_seconds,
        mention=notify_mention(view.mention) if not is_cleared else "",
        trigger_count=max(1, view.trigger_count),
        retriggered=view.trigger_count > 1,
        triggered_again=view.thread_reason == "flapping",
        snoozed=view.thread_reason == "snoozed",
        snoozed_until=view.snoozed_until if not is_cleared else None,
        snoozed_by=view.snoozed_by if not is_cleared else "",
        snoozed_where=view.snoozed_where if not is_cleared else "",
        in_storm=view.in_storm,
        api_note=wording.API_SYNC_NOTES.get(view.api_sync or "", ""),
        title=subject["test_name"] or subject["agent_name"] or alert.rule_name
        or "ThousandEyes alert",
        **subject,
    )


class StateFields(TypedDict):
    """The four fields every alert-like context takes from its display state."""

    state: str
    state_label: str
    state_emoji: str
    state_color: str


def state_fields(state: DisplayState, rule_changed: bool = False) -> StateFields:
    """``state``, ``state_label``, ``state_emoji`` and ``state_color`` of a display state."""
    label, emoji, color = wording.state_words(DisplayState(state), rule_changed)
    return {"state": DisplayState(state).value, "state_label": label, "state_emoji": emoji,
            "state_color": color}


def ack_note_context(view: AlertView, responder: Responder, acknowledged: bool) -> AckNoteContext:
    """The alert context plus who just (un)acknowledged."""
    context = alert_context(view)
    return AckNoteContext(**_fields_of(context),
                          actor=responder_context(responder, context.started_at),
                          acknowledged=bool(acknowledged))


def reminder_context(view: AlertView, unacknowledged_for: timedelta, number: int,
                     mention: str, storm_waiting: int = 0) -> ReminderContext:
    """The alert context plus which reminder this is and for how long nobody responded.
    ``mention`` is the route's option (never payload text), made safe here."""
    context = alert_context(view)
    fields = _fields_of(context)
    fields["mention"] = notify_mention(mention) if not context.is_cleared else ""
    return ReminderContext(**fields, reminder_number=number, storm_waiting=storm_waiting,
                           unacknowledged_for=human_duration(unacknowledged_for))


def responder_context(responder: Responder, started_at: datetime | None) -> ResponderContext:
    after = seconds_between(started_at, responder.acknowledged_at)
    return ResponderContext(
        name=responder.user_name or responder.user_id,
        user_id=responder.user_id,
        acknowledged_at=responder.acknowledged_at,
        after_trigger=human_duration(after),
        after_trigger_seconds=after,
    )


def event_context(event: Event) -> EventContext:
    """WEBHOOK_TEST and unknown event types: what arrived, never what it means."""
    excerpt, truncated = payload_excerpt(event.raw)
    return EventContext(
        event_type=event.event_type,
        event_id=event.event_id,
        title=event.event_type,
        known=event.known,
        payload_excerpt=excerpt,
        payload_truncated=truncated,
    )


def _fields_of(context: AlertContext) -> dict[str, Any]:
    """An alert context's fields, to build a note's context on top of it."""
    return {f.name: getattr(context, f.name) for f in dataclass_fields(AlertContext)}


def payload_excerpt(raw: Any, limit: int = EXCERPT_LIMIT) -> tuple[str, bool]:
    """Pretty JSON cut to ``limit`` characters, safe to put inside a ``` code block.

    Cut before escaping, so the escaping that follows cannot be split. Triple backticks
    in the payload would close the code block; a zero-width space breaks them up.
    """
    try:
        text = json.dumps(raw, indent=2, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        log.warning("payload is not JSON-serialisable; showing its repr", exc_info=True)
        text = repr(raw)
    text = text.replace("```", "`\u200b`\u200b`")
    if len(text) <= limit:
        return text, False
    return text[:limit].rstrip() + "\n…", True


def _agent_context(agent: AlertAgent) -> AgentContext:
    return AgentContext(
        name=agent.agent_name or agent.location_name or (agent.agent_id or ""),
        location=agent.location_name,
        prefix=agent.prefix,
        agent_id=agent.agent_id,
        metrics_at_start=agent.metrics_at_start,
        metrics_at_end=agent.metrics_at_end,
        permalink=safe_url(agent.permalink),
        started_at=agent.date_start,
        ended_at=agent.date_end,
        active=agent.active,
        duration=human_duration(seconds_between(agent.date_start, agent.date_end)),
    )


def _test_fields(alert: TestAlert) -> dict[str, Any]:
    agents = alert.agents
    return {
        "subject": "test",
        "subject_label": wording.SUBJECTS["test"],
        "test_name": alert.test_name,
        "test_id": alert.test_id,
        "permalink": safe_url(alert.permalink),
        "permalink_label": VIEW_LABEL,
        "labels": list(alert.test_labels),
        "targets": list(alert.test_targets_description),
        "violation_count": alert.violation_count,
        "agents": [_agent_context(a) for a in agents[:MAX_AGENTS_SHOWN]],
        "agents_total": len(agents),
        "agents_more": max(0, len(agents) - MAX_AGENTS_SHOWN),
    }


def _empty_test_fields() -> dict[str, Any]:
    return {
        "test_name": "",
        "test_id": None,
        "labels": [],
        "targets": [],
        "violation_count": None,
        "agents": [],
        "agents_total": 0,
        "agents_more": 0,
    }


def _agent_fields(alert: AgentAlert) -> dict[str, Any]:
    name = alert.agent_name or alert.hostname or alert.agent_id or ""
    permalink = safe_url(alert.permalink)
    subject = alert.subject if alert.subject in wording.SUBJECTS else "agent"
    return {
        "subject": subject,
        "subject_label": wording.SUBJECTS[subject],
        "permalink": permalink or ALERT_LIST_URL,
        "permalink_label": VIEW_LABEL if permalink else ALERT_LIST_LABEL,
        "agent_name": name,
        "agent_hostname": alert.hostname,
        "agent_ip": alert.ip_address,
        "agent_id": alert.agent_id,
        "agent_interface": alert.interface_name,
        "agent_where": ", ".join(part for part in (alert.hostname, alert.ip_address)
                                 if part and part != name),
        "metrics_at_start": alert.metrics_at_start,
        "metrics_at_end": alert.metrics_at_end,
    }


def _empty_agent_fields() -> dict[str, Any]:
    return {
        "agent_name": "",
        "agent_hostname": "",
        "agent_ip": "",
        "agent_id": None,
        "agent_interface": "",
        "agent_where": "",
        "metrics_at_start": "",
        "metrics_at_end": "",
    }
