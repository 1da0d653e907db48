"""The flat context templates see: plain values built from an alert view or an event.

Stage one of two-stage rendering (payload -> typed context -> template). Everything here
is a str, int, bool, None, datetime, list or dict; no store objects, no network. Every
key is always present (empty string, None or empty list when it does not apply), so a
template can use any key without guarding against Undefined.

Alert messages (:func:`alert_context`):

==========================  =========================================================
``kind``                    "test" (test alert) or "agent" (an alert on an agent or a
                            device: the agent templates)
``subject``                 what the alert is about: "test", "agent" or "device"
``subject_label``           "Test" / "Agent" / "Device"
``state``                   "triggered", "acknowledged" or "cleared"
``state_label``             "Triggered" / "Acknowledged" / "Cleared"; "Closed" when the
                            rule changed (``rule_changed``)
``state_emoji``             🔴 / 🟠 / ✅; ⚪ when closed
``state_color``             hex colour for the state ("#E01E5A" / "#ECB22E" / "#2EB67D")
``is_cleared``              True once cleared (no Acknowledge buttons then)
``rule_changed``            cleared because the alert rule was modified or removed while
                            alerting (``active: 2``): not a recovery
``clear_explanation``       what that means for the reader when ``rule_changed``, else ""
``alert_ref``               stored alert reference; the Acknowledge button value
``actions``                 {"acknowledge", "unacknowledge", "view"}: action ids
``title``                   what the alert is about: test name, else agent name
``mention``                 who a triggered parent notifies (``<!here>``, a user group),
                            already safe; "" when the route asks for nobody or cleared
``rule_name``               alert rule name
``rule_expression``         the rule's condition, e.g. "Page Load is incomplete"
``test_name``, ``test_id``  test alerts ("" / None for agent alerts)
``alert_type``              the type as sent, e.g. "Page Load", "page-load"
``alert_type_label``        the type as people read it ("Page Load", "DNS+ Server"); an
                            unknown type as sent; "" when none was sent or it only
                            repeats ``subject_label`` ("Agent")
``sources_label``           heading for those that saw it: "Agents", "BGP monitors"
``severity``                upper case ("MAJOR"), or "" when not sent
``permalink``               http(s) link to ThousandEyes, or "" (non-http dropped); for
                            agent and device alerts without one, ``ALERT_LIST_URL``
``permalink_label``         the link's button text ("View in ThousandEyes", or
                            "ThousandEyes alerts" for the alert list)
``notes``                   custom static keys of the webhook (bot.thousandeyes.notes):
                            dicts ``key``, ``label`` ("" for keys like "text") and ``value``
``labels``                  test labels (list of str)
``targets``                 test targets description (list of str)
``violation_count``         int or None
``agents``                  up to ``MAX_AGENTS_SHOWN`` dicts: ``name``, ``location``,
                            ``agent_id``, ``metrics_at_start``, ``metrics_at_end``,
                            ``permalink``, ``started_at``, ``ended_at``, ``active``,
                            ``duration``
``agents_total``            number of agents in the alert
``agents_more``             agents not in ``agents`` ("…and N more agents")
``agent_name``, ``agent_hostname``, ``agent_ip``, ``agent_id``, ``agent_interface``
                            agent and device alerts ("" / None for test alerts); for a
                            device, its name, id, address and interface
``agent_where``             "hostname, IP" of an agent or device (the parts that add to
                            its name), "" for test alerts
``metrics_at_start``        agent notifications: metrics when triggered ("" otherwise)
``metrics_at_end``          agent notifications: metrics when cleared ("" otherwise)
``started_at``              datetime the alert started (ThousandEyes dateStart); the time
                            the first event was received when ThousandEyes gave none
                            that can be placed in time
``started_note``            "" or why ``started_at`` is the time received ("time
                            received: ThousandEyes sent no start time")
``last_started_at``         start of the latest trigger (differs after a re-trigger)
``cleared_at``              datetime cleared, or None while active
``cleared_note``            "" or why ``cleared_at`` is the time the clear was received
``first_seen_at``           when this service first heard of the alert
``last_event_at``           when this service last received an event of the alert
``is_stale``                open with no news from ThousandEyes for STALE_AFTER
``stale_hint``              what to make of that (""  when not stale)
``duration``                "8m 4s" from start to clear; "" while active
``duration_seconds``        int or None
``responders``              up to ``MAX_RESPONDERS_SHOWN`` dicts: ``name``, ``user_id``,
                            ``acknowledged_at``, ``after_trigger`` ("2m"),
                            ``after_trigger_seconds``
``responders_total``        number of people acknowledging now
``responders_more``         responders not in ``responders``
``first_acknowledged_at``   datetime of the first acknowledgement ever, or None
``time_to_acknowledge``     "2m" from trigger to first acknowledgement, or ""
``time_to_acknowledge_seconds``  int or None
``trigger_count``           how often ThousandEyes triggered this alert (>= 1)
``retriggered``             trigger_count > 1
==========================  =========================================================

Acknowledgement notes (:func:`ack_note_context`) add ``actor`` (a responder dict) and
``acknowledged`` (True for "acknowledged", False for "no longer acknowledging").

Events without an alert (:func:`event_context`): ``event_type``, ``event_id``, ``title``
(the event type), ``known`` (a type this service understands), ``payload_excerpt``
(pretty JSON of the body, cut to ``EXCERPT_LIMIT`` characters) and ``payload_truncated``.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from bot import actions
from bot.alert_view import AlertView, DisplayState, Responder
from bot.render import wording
from bot.render.escaping import notify_mention, safe_url
from bot.render.timefmt import human_duration, seconds_between
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

ACTION_IDS = {
    "acknowledge": actions.ACKNOWLEDGE,
    "unacknowledge": actions.UNACKNOWLEDGE,
    "view": actions.VIEW_IN_THOUSANDEYES,
}


def alert_context(view: AlertView) -> dict[str, Any]:
    """Everything a parent, clear reply or thread note may show about one alert."""
    state = DisplayState(view.state)
    alert = view.alert
    is_cleared = state is DisplayState.CLEARED
    rule_changed = is_cleared and alert.rule_changed
    label, emoji, color = wording.state_words(state, rule_changed)
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
    context: dict[str, Any] = {
        "kind": AlertKind(view.kind).value,
        "state": state.value,
        "state_label": label,
        "state_emoji": emoji,
        "state_color": color,
        "is_cleared": is_cleared,
        "rule_changed": rule_changed,
        "clear_explanation": wording.RULE_CHANGED if rule_changed else "",
        "alert_ref": view.alert_ref,
        "actions": dict(ACTION_IDS),
        "rule_name": alert.rule_name,
        "rule_expression": alert.rule_expression,
        "alert_type": alert.alert_type,
        "alert_type_label": type_label.label if alert.alert_type else "",
        "sources_label": type_label.sources or "Agents",
        "severity": alert.severity or "",
        "notes": wording.note_items(alert.notes),
        "started_at": started_at,
        "started_note": "" if placed_start else wording.received_note(
            "dateStart", alert.unplaced_dates, "start"),
        "last_started_at": alert.date_start or started_at,
        "cleared_at": cleared_at,
        "cleared_note": wording.received_note("dateEnd", alert.unplaced_dates, "end")
        if is_cleared and alert.date_end is None else "",
        "first_seen_at": view.first_seen_at,
        "last_event_at": view.last_event_at,
        "is_stale": is_stale,
        "stale_hint": wording.STALE_HINT if is_stale else "",
        "duration": human_duration(duration_seconds),
        "duration_seconds": duration_seconds,
        "responders": [
            responder_dict(r, started_at) for r in responders[:MAX_RESPONDERS_SHOWN]
        ],
        "responders_total": len(responders),
        "responders_more": max(0, len(responders) - MAX_RESPONDERS_SHOWN),
        "first_acknowledged_at": first_ack,
        "time_to_acknowledge": human_duration(tta_seconds),
        "time_to_acknowledge_seconds": tta_seconds,
        "mention": notify_mention(view.mention) if not is_cleared else "",
        "trigger_count": max(1, view.trigger_count),
        "retriggered": view.trigger_count > 1,
    }
    context.update(_test_fields(alert) if isinstance(alert, TestAlert) else _empty_test_fields())
    context.update(_agent_fields(alert) if isinstance(alert, AgentAlert) else _empty_agent_fields())
    if context["alert_type_label"] == context["subject_label"]:
        context["alert_type_label"] = ""  # "Agent: …" already says it
    context["title"] = (
        context["test_name"] or context["agent_name"] or alert.rule_name or "ThousandEyes alert"
    )
    return context


def ack_note_context(view: AlertView, responder: Responder, acknowledged: bool) -> dict[str, Any]:
    """The alert context plus who just (un)acknowledged."""
    context = alert_context(view)
    context["actor"] = responder_dict(responder, context["started_at"])
    context["acknowledged"] = bool(acknowledged)
    return context


def responder_dict(responder: Responder, started_at: datetime | None) -> dict[str, Any]:
    after = seconds_between(started_at, responder.acknowledged_at)
    return {
        "name": responder.user_name or responder.user_id,
        "user_id": responder.user_id,
        "acknowledged_at": responder.acknowledged_at,
        "after_trigger": human_duration(after),
        "after_trigger_seconds": after,
    }


def event_context(event: Event) -> dict[str, Any]:
    """WEBHOOK_TEST and unknown event types: what arrived, never what it means."""
    excerpt, truncated = payload_excerpt(event.raw)
    return {
        "event_type": event.event_type,
        "event_id": event.event_id,
        "title": event.event_type,
        "known": event.known,
        "payload_excerpt": excerpt,
        "payload_truncated": truncated,
    }


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


def _agent_dict(agent: AlertAgent) -> dict[str, Any]:
    return {
        "name": agent.agent_name or agent.location_name or (agent.agent_id or ""),
        "location": agent.location_name,
        "agent_id": agent.agent_id,
        "metrics_at_start": agent.metrics_at_start,
        "metrics_at_end": agent.metrics_at_end,
        "permalink": safe_url(agent.permalink),
        "started_at": agent.date_start,
        "ended_at": agent.date_end,
        "active": agent.active,
        "duration": human_duration(seconds_between(agent.date_start, agent.date_end)),
    }


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
        "agents": [_agent_dict(a) for a in agents[:MAX_AGENTS_SHOWN]],
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
