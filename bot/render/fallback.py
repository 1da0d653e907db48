"""The built-in message used when a template fails: plain Python, no Jinja.

A broken override template must not cost anyone an alert. This message names the alert
or event (escaped like everything else), keeps the Acknowledge and View buttons on parent
messages so the workflow still works, and says a template failed so someone fixes it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bot.render.buttons import parent_buttons
from bot.render.kinds import (
    CLEAR_REPLY_KINDS,
    COMMAND_KINDS,
    PARENT_KINDS,
    STORM_LIST_KINDS,
    MessageKind,
)
from bot.render.layout import MessageLayout

log = logging.getLogger(__name__)

_NAME_LIMIT = 300  # the fallback is a stopgap: keep it short, blockkit trims the rest


def _s(value: Any, limit: int = _NAME_LIMIT) -> str:
    """A context value as one short line of raw text (the layout escapes it)."""
    if value is None:
        return ""
    text = str(value).replace("\n", " ")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def fallback_headline(kind: str, context: Mapping[str, Any]) -> str:
    """One line of raw text that says what happened, whatever the kind."""
    rule = _s(context.get("rule_name")) or "ThousandEyes alert"
    title = _s(context.get("title"))
    about = f"{rule} on {title}" if title and title != rule else rule
    if kind in COMMAND_KINDS:
        return "Sorry, this answer could not be shown; the service log has the error."
    if kind in STORM_LIST_KINDS:
        return (f"🌩️ Storm: {_s(context.get('total'))} ThousandEyes alerts"
                f" ({_s(context.get('open', ''))} open)")
    if kind == MessageKind.ANNOUNCEMENT:
        found = context.get("actor")
        actor: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        name = _s(actor.get("name")) or "Someone"
        what = {"connected": f"connected ThousandEyes webhook {_s(context.get('route_id'))}",
                "disconnected": f"disconnected ThousandEyes webhook {_s(context.get('route_id'))}",
                "snoozed": f"snoozed {about}",
                }.get(str(context.get("change")), f"cancelled the snooze of {about}")
        return f"{name} {what} in this channel"
    if kind == MessageKind.STORM_NOTES:
        listed = context.get("acks")
        acks: list[Any] = listed if isinstance(listed, list) else []
        return (f"🌩️ Storm news: {_s(context.get('cleared', 0))} cleared,"
                f" {len(acks)} acknowledgement{'' if len(acks) == 1 else 's'}")
    if kind == MessageKind.WEBHOOK_TEST:
        return "✅ ThousandEyes webhook test received — alerts will appear in this channel."
    if kind == MessageKind.UNKNOWN_EVENT or "alert_ref" not in context:
        event_type = _s(context.get("event_type")) or "unknown"
        return f"ThousandEyes event {event_type}"
    if kind == MessageKind.ACK_NOTE:
        found = context.get("actor")
        actor = found if isinstance(found, Mapping) else {}
        name = _s(actor.get("name")) or "Someone"
        verb = "acknowledged" if context.get("acknowledged") else "is no longer acknowledging"
        return f"{name} {verb}: {about}"
    if kind == MessageKind.REMINDER_NOTE:
        return f"⏰ Still not acknowledged: {about}"
    if kind == MessageKind.RETRIGGER_NOTE:
        return f"🔁 Triggered again ({_s(context.get('trigger_count'))} times): {about}"
    if kind in CLEAR_REPLY_KINDS:
        if context.get("rule_changed"):  # active: 2, not a recovery
            return f"⚪ Closed, alert rule changed: {about}"
        duration = _s(context.get("duration"))
        return f"✅ Cleared{' after ' + duration if duration else ''}: {about}"
    emoji = _s(context.get("state_emoji")) or "🔔"
    label = _s(context.get("state_label")) or "Alert"
    return f"{emoji} {label}: {about}"


def fallback_message(kind: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """A complete ``{"text", "blocks"}`` message built without templates."""
    layout = MessageLayout()
    headline = fallback_headline(kind, context)
    layout.text(headline)
    layout.section(headline)
    details = []
    if context.get("rule_expression"):
        details.append(f"Condition: {_s(context.get('rule_expression'))}")
    if context.get("event_id"):
        details.append(f"Event ID: {_s(context.get('event_id'), 200)}")
    if context.get("token"):
        # /thousandeyes connect shows a new route's token only once: never lose it.
        details.append(f"Webhook URL: {_s(context.get('url'), 500)}\nToken: {_s(context['token'])}")
    if details:
        layout.section("\n".join(details))
    layout.context([f"Built-in layout: the `{_s(kind, 80)}` template failed;"
                    " the service log has the error."])
    if kind in PARENT_KINDS:
        layout.actions(parent_buttons(context))
    if kind == MessageKind.STORM_ROLLUP and isinstance(context.get("actions"), list):
        layout.actions(context["actions"])  # Acknowledge all, even without the template
    return layout.message()
