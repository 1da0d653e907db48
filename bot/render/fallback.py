"""The built-in message used when a template fails: plain Python, no Jinja.

A broken override template must not cost anyone an alert. This message names the alert
or event (escaped like everything else), keeps the Acknowledge and View buttons on parent
messages so the workflow still works, and says a template failed so someone fixes it.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

from bot.render.escaping import escape_mrkdwn, safe_url

log = logging.getLogger(__name__)

PARENT_KINDS = frozenset({"alert_parent", "agent_alert_parent"})
_NAME_LIMIT = 300  # the fallback is a stopgap: keep it short, blockkit trims the rest


def _s(value: Any, limit: int = _NAME_LIMIT) -> str:
    """A context value as escaped mrkdwn, cut before escaping so no entity is split."""
    if value is None:
        return ""
    text = str(value).replace("\n", " ")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return escape_mrkdwn(text)


def fallback_headline(kind: str, context: Mapping[str, Any]) -> str:
    """One escaped line that says what happened, whatever the kind."""
    rule = _s(context.get("rule_name")) or "ThousandEyes alert"
    title = _s(context.get("title"))
    about = f"{rule} on {title}" if title and title != rule else rule
    if kind == "webhook_test":
        return "✅ ThousandEyes webhook test received — alerts will appear in this channel."
    if kind == "unknown_event" or "alert_ref" not in context:
        event_type = _s(context.get("event_type")) or "unknown"
        return f"ThousandEyes event {event_type}"
    if kind == "ack_note":
        actor = context.get("actor") if isinstance(context.get("actor"), Mapping) else {}
        name = _s(actor.get("name")) or "Someone"
        verb = "acknowledged" if context.get("acknowledged") else "is no longer acknowledging"
        return f"{name} {verb}: {about}"
    if kind == "retrigger_note":
        return f"🔁 Triggered again ({_s(context.get('trigger_count'))} times): {about}"
    if kind.endswith("clear_reply"):
        if context.get("rule_changed"):  # active: 2, not a recovery
            return f"⚪ Closed, alert rule changed: {about}"
        duration = _s(context.get("duration"))
        return f"✅ Cleared{' after ' + duration if duration else ''}: {about}"
    emoji = _s(context.get("state_emoji")) or "🔔"
    label = _s(context.get("state_label")) or "Alert"
    return f"{emoji} {label}: {about}"


def fallback_message(kind: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """A complete ``{"text", "blocks"}`` message built without templates."""
    headline = fallback_headline(kind, context)
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
    ]
    details = []
    if context.get("rule_expression"):
        details.append(f"Condition: {_s(context.get('rule_expression'))}")
    if context.get("event_id"):
        details.append(f"Event ID: {_s(context.get('event_id'), 200)}")
    if details:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(details)}})
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"Built-in layout: the `{_s(kind, 80)}` template failed;"
                    " the service log has the error.",
                }
            ],
        }
    )
    if kind in PARENT_KINDS:
        buttons = _parent_buttons(context)
        if buttons:
            blocks.append({"type": "actions", "elements": buttons})
    return {"text": headline, "blocks": blocks}


def _parent_buttons(context: Mapping[str, Any]) -> list[dict[str, Any]]:
    ids = context.get("actions") if isinstance(context.get("actions"), Mapping) else {}
    ref = context.get("alert_ref")
    buttons: list[dict[str, Any]] = []
    if isinstance(ref, str) and ref and not context.get("is_cleared"):
        if ids.get("acknowledge"):
            buttons.append(_button("Acknowledge", ids["acknowledge"], value=ref, style="primary"))
        if context.get("responders_total") and ids.get("unacknowledge"):
            buttons.append(_button("Unacknowledge", ids["unacknowledge"], value=ref))
    url = safe_url(context.get("permalink"))
    if url and ids.get("view"):
        buttons.append(_button("View in ThousandEyes", ids["view"], url=url))
    return buttons


def _button(label: str, action_id: str, **extra: str) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "action_id": str(action_id),
    }
    button.update(extra)
    return button
