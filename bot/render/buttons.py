"""The messages' buttons and menus, built at layout time from a typed context.

A context says what an alert or a storm is; which buttons that offers, with which
action ids and values, is decided here, once, with the references encoded by
:mod:`bot.render.actions`. Templates get the result as ``buttons`` (alert messages) and
``actions`` (a storm's roll-up), ready for ``msg.actions``; the built-in fallback
message uses the same functions, so it shows the same buttons.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.render import actions
from bot.render.context import VIEW_LABEL
from bot.render.context_types import AlertContext, RollupContext, StormChoice, TemplateContext
from bot.render.escaping import safe_url

MENU_OPTIONS = 100  # Block Kit's limit for a static_select
_OPTION_TEXT = 75  # Block Kit's limit for an option's text


def template_variables(context: Mapping[str, Any]) -> dict[str, Any]:
    """What a template sees: the context's variables, plus the buttons its kind offers."""
    if not isinstance(context, TemplateContext):
        return dict(context)  # a context already made of variables (the slash command's)
    variables = context.variables()
    if isinstance(context, AlertContext):
        variables["buttons"] = parent_buttons(variables)
    elif isinstance(context, RollupContext):
        variables["actions"] = storm_actions(context)
    return variables


def parent_buttons(context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The parent's buttons: Acknowledge while the alert is open (others can still join),
    Unacknowledge once someone has, the snooze menu, View in ThousandEyes whenever there
    is a link. Only the actions whose ids ``context["actions"]`` names are offered.

    Read from template variables, defensively, so the built-in fallback (whose context
    may be a minimal one) shows the same buttons as the template.
    """
    found = context.get("actions")
    ids: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    ref = context.get("alert_ref")
    buttons: list[dict[str, Any]] = []
    if isinstance(ref, str) and ref and not context.get("is_cleared"):
        if ids.get("acknowledge"):
            buttons.append({"text": "Acknowledge", "action_id": ids["acknowledge"],
                            "value": ref, "style": "primary"})
        if context.get("responders_total") and ids.get("unacknowledge"):
            buttons.append({"text": "Unacknowledge", "action_id": ids["unacknowledge"],
                            "value": ref})
        alert_pk = actions.alert_pk_of(ref)
        if ids.get("snooze") and alert_pk is not None:
            buttons.append({"action_id": ids["snooze"], "options": [
                {"text": f"Snooze {hours} h", "value": actions.encode_snooze_choice(alert_pk, hours)}
                for hours in actions.SNOOZE_HOURS]})
    url = safe_url(context.get("permalink"))
    if url and ids.get("view"):
        buttons.append({"text": context.get("permalink_label") or VIEW_LABEL,
                        "action_id": ids["view"], "url": url})
    return buttons


def storm_actions(context: RollupContext) -> list[dict[str, Any]]:
    """A roll-up's *Acknowledge all* button and its menu to acknowledge one open alert;
    none once every alert has cleared, or when no click could arrive."""
    open_entries = context.open_entries
    if not open_entries:
        return []
    menu = [{"text": _option_text(entry), "value": entry.alert_ref}
            for entry in open_entries[:MENU_OPTIONS]]
    return [
        {"text": f"Acknowledge all {context.open}", "action_id": actions.ACKNOWLEDGE_ALL,
         "value": context.storm_ref, "style": "primary"},
        {"placeholder": "Acknowledge one…", "action_id": actions.ACKNOWLEDGE_ONE,
         "options": menu},
    ]


def _option_text(entry: StormChoice) -> str:
    text = f"{entry.title} · {entry.rule_name}"
    return text if len(text) <= _OPTION_TEXT else text[:_OPTION_TEXT - 1] + "…"
