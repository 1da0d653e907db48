"""The words messages use for states and for what a payload could not tell.

Decided here, in Python, rather than in the templates: every message says the same
thing the same way, a template override inherits the wording, and tests read it
without rendering. Everything returned is plain text; templates escape it.
"""

from __future__ import annotations

import re

from bot.render.view import DisplayState
from bot.thousandeyes.models import Notes, UnplacedDates

# (label, emoji, colour) per state. An alert closed because its rule changed (active: 2)
# did not recover: it must not read like one.
STATES = {
    DisplayState.TRIGGERED: ("Triggered", "🔴", "#E01E5A"),
    DisplayState.ACKNOWLEDGED: ("Acknowledged", "🟠", "#ECB22E"),
    DisplayState.CLEARED: ("Cleared", "✅", "#2EB67D"),
}
CLOSED = ("Closed", "⚪", "#868686")
RULE_CHANGED = ("The alert rule was modified or removed while this alert was active:"
                " ThousandEyes stopped watching it, so this is not a recovery.")
STALE_HINT = ("ThousandEyes sends a clear only when the alert rule asks for one;"
              " check the alert there.")
# What the ThousandEyes API sync did to an alert (bot.store.models.ApiSync), said once.
API_SYNC_NOTES = {
    "found": "🔗 Found through the ThousandEyes API: no webhook brought this alert",
    "cleared": "🔗 Confirmed through the ThousandEyes API: the clear webhook never arrived",
}
SUBJECTS = {"test": "Test", "agent": "Agent", "device": "Device"}
# Keys whose value says it all: shown without the key ("📝 Call the branch desk").
_SELF_EXPLAINING_KEYS = {"text", "note", "notes", "message", "description", "comment", "info"}
_LOOKS_LIKE_A_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def state_words(state: DisplayState, rule_changed: bool) -> tuple[str, str, str]:
    """(label, emoji, colour) for the alert's state."""
    if state is DisplayState.CLEARED and rule_changed:
        return CLOSED
    return STATES[state]


def received_note(field: str, unplaced: UnplacedDates, what: str) -> str:
    """Why a time shown is when this service received the event, not ThousandEyes' own.

    ``field`` is the payload's field (``dateStart``); ``what`` names it for the reader.
    """
    sent = dict(unplaced).get(field)
    if sent is None:
        return f"time received: ThousandEyes sent no {what} time"
    if _LOOKS_LIKE_A_DATE.match(sent):
        return (f"time received: ThousandEyes sent “{sent}”, in a timezone this service"
                " cannot place; set THOUSANDEYES_TIMEZONE to the account's zone")
    return f"time received: ThousandEyes sent “{sent}”, which is not a time"


def note_items(notes: Notes) -> list[dict[str, str]]:
    """Custom static keys as ``{"key", "label", "value"}``; ``label`` is "" for keys
    like ``text`` that add nothing to their value."""
    return [
        {"key": key, "label": "" if key.lower() in _SELF_EXPLAINING_KEYS else key,
         "value": value}
        for key, value in notes
    ]
