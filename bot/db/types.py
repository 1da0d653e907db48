"""The column types every table shares (ids, aware UTC datetimes) and the values some
columns take (job status and kind, alert state, why a job waits)."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, DateTime, Integer, Table
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone, so we add it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON}
    # Every model here maps one Table; DeclarativeBase types __table__ as the wider
    # FromClause, which Core's update() and insert() do not accept.
    __table__: ClassVar[Table]


class JobStatus:
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"


class JobKind(enum.StrEnum):
    """What an outbox job does; ``bot.outbox.kinds`` says how each kind behaves."""

    WEBHOOK_TEST = "webhook_test"
    UNKNOWN_EVENT = "unknown_event"
    ALERT_TRIGGER = "alert_trigger"
    ALERT_CLEAR = "alert_clear"
    REFRESH_PARENT = "refresh_parent"
    ACK_NOTE = "ack_note"
    REMINDER = "reminder"
    STORM_PAGE = "storm_page"  # a page of a long storm's list, in the roll-up's thread
    # A webhook connected or disconnected, a snooze made or cancelled: said in the channel,
    # naming who did it (bot.store.announcements).
    ANNOUNCEMENT = "announcement"
    # One reply in a roll-up's thread telling what cleared or was acknowledged since the
    # last one (bot.store.storm_notes): a storm ends as quietly as it started.
    STORM_NOTES = "storm_notes"
    # A snooze made or ended in ThousandEyes too: its alert suppression window created or
    # deleted through the API (bot.delivery.snooze_upstream), never while Slack waits.
    SNOOZE_UPSTREAM = "snooze_upstream"


class AlertState:
    TRIGGERED = "triggered"
    CLEARED = "cleared"


class ApiSync:
    """What the ThousandEyes API sync did to an alert (``AlertRow.api_sync``)."""

    FOUND = "found"  # no webhook brought it
    CLEARED = "cleared"  # its clear webhook never arrived


# The condition of the partial index of open alerts (ix_alerts_open_by_channel), spelled
# as the queries that use it must spell it: with a bound parameter instead of the literal,
# neither SQLite nor PostgreSQL (generic plans) can prove the index covers the query.
OPEN_ALERT_CONDITION = f"state = '{AlertState.TRIGGERED}'"


class WaitingFor:
    """Why a pending job is not due yet (``JobRow.waiting_for``)."""

    BACKOFF = "backoff"  # Slack failed (5xx, timeout): released early when it answers again
    RATE_LIMIT = "rate_limit"  # Slack's Retry-After
