"""What the renderer knows about an alert: stored state, never the database itself.

The store builds an :class:`AlertView` from its rows; templates see only the typed
context made from it (:mod:`bot.render.context`). Keeping this boundary means rendering
has no side effects and tests can render any state without a database.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from bot.thousandeyes import Alert, AlertKind


class DisplayState(str, enum.Enum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"


@dataclass(frozen=True)
class Responder:
    """A Slack user who acknowledged the alert."""

    user_id: str
    user_name: str
    acknowledged_at: datetime


@dataclass(frozen=True)
class AlertView:
    alert_ref: str  # the stored alert's id, as encoded into button values
    kind: AlertKind
    state: DisplayState
    alert: Alert  # the latest payload: the clear's once cleared, else the trigger's
    first_seen_at: datetime  # when this service first heard of the alert
    triggered_at: datetime | None  # ThousandEyes' dateStart of the first trigger, if placed
    cleared_at: datetime | None
    trigger_count: int  # >1 when ThousandEyes re-triggered an alert already posted
    responders: tuple[Responder, ...] = ()
    first_acknowledged_at: datetime | None = None
    # Who the first post notifies (a route option: "here", "channel", "subteam:S…", "").
    mention: str = ""
    # When this service last received an event of the alert.
    last_event_at: datetime | None = None
    # Set while an open alert has had no news for STALE_AFTER: when it was marked so.
    stale_since: datetime | None = None
    # Why it threads under an earlier alert's parent (bot.store.adoption), or None.
    thread_reason: str | None = None
    # A snooze running on its rule and test (bot.store.snoozes): until when, and by whom.
    snoozed_until: datetime | None = None
    snoozed_by: str = ""
    # Listed in a storm roll-up: its thread messages then name the alert, since the
    # roll-up's thread holds the replies of many alerts.
    in_storm: bool = False
    # What the ThousandEyes API sync did ("found", "cleared"; bot.store.models.ApiSync).
    api_sync: str | None = None
