"""REMINDER_AFTER: the reminder jobs a trigger queues, and whether one still applies.

Every reminder of a trigger is queued with it, in the ingest transaction, due
``REMINDER_AFTER`` apart: they are ordinary outbox jobs, so they survive restarts and
are claimed exactly once like any other. Nothing cancels them in place; an
acknowledgement or a clear makes them moot, and the job checks that when it runs
(:func:`still_applies`), so one already due or claimed does not post either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.config import Config
from bot.db.models import AlertRow, AlertState
from bot.render.view import AlertView


@dataclass(frozen=True)
class ReminderPlan:
    """REMINDER_AFTER and REMINDER_REPEAT, as ingest needs them."""

    after: timedelta
    repeat: int = 1

    def due_times(self, now: datetime) -> list[datetime]:
        return [now + self.after * number for number in range(1, self.repeat + 1)]


@dataclass(frozen=True)
class ReminderArgs:
    """A reminder job's arguments: which one it is, and which trigger it is about."""

    number: int  # 1 for the first reminder
    after_seconds: int  # REMINDER_AFTER when it was queued
    trigger_count: int  # the alert's trigger it reminds of; a later trigger queues its own

    def to_data(self) -> dict[str, Any]:
        return {"number": self.number, "after_seconds": self.after_seconds,
                "trigger_count": self.trigger_count}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> ReminderArgs:
        def whole(name: str) -> int:
            value = data.get(name)
            return value if isinstance(value, int) and not isinstance(value, bool) else 0
        return cls(whole("number"), whole("after_seconds"), whole("trigger_count"))

    @property
    def unacknowledged_for(self) -> timedelta:
        """How long the alert has gone unacknowledged when this reminder is due."""
        return timedelta(seconds=self.after_seconds * max(1, self.number))


def still_applies(row: AlertRow, view: AlertView, args: ReminderArgs) -> bool:
    """True while the trigger it was queued for is open and nobody acknowledges it; never
    for an alert that triggered while its rule was snoozed (quiet is what was asked)."""
    return (row.state == AlertState.TRIGGERED and row.trigger_count == args.trigger_count
            and not view.responders and row.thread_reason != "snoozed")


def reminder_plan(config: Config) -> ReminderPlan | None:
    """The configured reminders (None: REMINDER_AFTER is off)."""
    if config.reminder_after is None:
        return None
    return ReminderPlan(config.reminder_after, config.reminder_repeat)
