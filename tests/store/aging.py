"""Time passing for RETENTION's tests: every stored timestamp moved back, no waiting."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.db.database import Database
from bot.db.models import (
    AcknowledgementRow,
    AlertRow,
    EventRow,
    JobRow,
    SnoozeRow,
    StormRow,
)

_TIMES = {
    EventRow: ("received_at",),
    AlertRow: ("first_seen_at", "last_event_at", "triggered_at", "cleared_at",
               "first_acknowledged_at"),
    JobRow: ("created_at", "updated_at", "next_attempt_at"),
    AcknowledgementRow: ("acknowledged_at", "withdrawn_at"),
    SnoozeRow: ("created_at", "until", "cancelled_at"),
    StormRow: ("opened_at", "last_joined_at", "closed_at"),
}


def age_everything(database: Database, by: timedelta) -> None:
    """As if ``by`` had passed since every row was written."""
    with database.session() as session:
        for model, columns in _TIMES.items():
            for row in session.scalars(select(model)):
                for column in columns:
                    value = getattr(row, column)
                    if value is not None:
                        setattr(row, column, value - by)


def count_rows(database: Database) -> dict[str, int]:
    with database.session() as session:
        return {model.__tablename__: len(session.scalars(select(model)).all())
                for model in _TIMES}
