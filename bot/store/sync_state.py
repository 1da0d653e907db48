"""The ThousandEyes API sync's row: a lease, so that of several processes one syncs, and
the last outcome, which any process reads for ``/healthz`` and the front page.

A process may run the sync when it is due (``next_run_at``), the API is not rate
limiting us (``blocked_until``) and nobody holds a live lease. Taking it is one UPDATE
whose WHERE re-checks all three, so of two processes asking at once exactly one gets
``rowcount`` 1 (PostgreSQL re-evaluates the condition on the locked row; SQLite's writer
lock serialises the two). A holder that dies loses the lease when ``held_until`` passes.
No transaction stays open while the API is asked: take, call, then record.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.db.database import Database
from bot.db.models import ThousandEyesSyncRow
from bot.db.results import affected_rows

SYNC_NAME = "alerts"


class SyncState(enum.StrEnum):
    PENDING = "pending"  # no sync has finished yet
    OK = "ok"
    # The others are bot.thousandeyes.api_errors.ApiProblem values.
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    UNREACHABLE = "unreachable"
    REJECTED = "rejected"
    DATABASE_ERROR = "database_error"  # the API answered; storing what it said failed


@dataclass(frozen=True)
class SyncLease:
    holder: str
    cleared_through: datetime | None  # where the last complete run stopped asking


@dataclass(frozen=True)
class SyncStatus:
    """The last outcome, as /healthz and the front page tell it."""

    state: str
    status: int | None
    detail: str
    last_run_at: datetime | None
    last_ok_at: datetime | None
    blocked_until: datetime | None


def take_lease(db: Database, holder: str, now: datetime, hold_for: timedelta) -> SyncLease | None:
    """The lease for one run, or None: not due yet, rate limited, or another holds it."""
    table = ThousandEyesSyncRow.__table__
    for _ in range(2):
        with db.session() as session:
            taken = affected_rows(session.execute(
                update(table)
                .where(table.c.name == SYNC_NAME, table.c.next_run_at <= now,
                       or_(table.c.blocked_until.is_(None), table.c.blocked_until <= now),
                       or_(table.c.held_until.is_(None), table.c.held_until < now))
                .values(held_by=holder, held_until=now + hold_for)
            ))
            if taken == 1:
                through = session.scalar(select(table.c.cleared_through)
                                         .where(table.c.name == SYNC_NAME))
                return SyncLease(holder, through)
            exists = session.scalar(select(table.c.name).where(table.c.name == SYNC_NAME))
        if exists is not None:
            return None
        _ensure_row(db, now)  # the very first run: made, then taken like any other
    return None


def record_run(db: Database, lease: SyncLease, now: datetime, *, state: str,
               next_run_at: datetime, status: int | None = None, detail: str = "",
               blocked_until: datetime | None = None,
               cleared_through: datetime | None = None) -> None:
    """Release the lease with the run's outcome; ``cleared_through`` moves only forward
    (None: the run did not finish asking for cleared alerts)."""
    table = ThousandEyesSyncRow.__table__
    values: dict[str, object] = dict(
        held_by=None, held_until=None, next_run_at=next_run_at, last_run_at=now, state=state,
        status=status, detail=detail[:300], blocked_until=blocked_until)
    if state == SyncState.OK:
        values["last_ok_at"] = now
    if cleared_through is not None:
        values["cleared_through"] = cleared_through
    with db.session() as session:
        session.execute(update(table).where(table.c.name == SYNC_NAME,
                                            table.c.held_by == lease.holder).values(**values))


def status_line(status: SyncStatus | None) -> str:
    """The API's state in one line, for /healthz and the front page (public: our own
    words and the HTTP status only)."""
    prefix = "ThousandEyes API: "
    if status is None or status.state == SyncState.PENDING:
        return prefix + "linked; the first sync has not run yet"
    last_ok = f"last sync {status.last_ok_at:%H:%M} UTC" if status.last_ok_at else \
        "no sync has succeeded yet"
    code = f" ({status.status})" if status.status else ""
    words: dict[str, str] = {
        SyncState.OK: f"ok, {last_ok}",
        SyncState.UNAUTHORIZED: f"unauthorized{code} — check THOUSANDEYES_API_TOKEN",
        SyncState.FORBIDDEN: f"forbidden{code} — the token's user may not list alerts"
                             " (and THOUSANDEYES_ACCOUNT_GROUP, when set, must be one of"
                             " theirs)",
        SyncState.RATE_LIMITED: "rate limited" + (
            f" until {status.blocked_until:%H:%M:%S} UTC" if status.blocked_until else ""),
        SyncState.UNREACHABLE: f"unreachable{code}"
                               + (f" ({status.detail})" if status.detail else "")
                               + f"; {last_ok}",
        SyncState.REJECTED: f"refused the sync's request{code}; see the log",
        SyncState.DATABASE_ERROR: f"answered, but storing the sync failed; {last_ok}",
    }
    return prefix + words.get(status.state, status.state)  # a StrEnum key is its string


def read_status(db: Database) -> SyncStatus | None:
    """The last outcome; None before any process has looked at the sync."""
    with db.session() as session:
        row = session.get(ThousandEyesSyncRow, SYNC_NAME)
        if row is None:
            return None
        return SyncStatus(row.state, row.status, row.detail, row.last_run_at, row.last_ok_at,
                          row.blocked_until)


def _ensure_row(db: Database, now: datetime) -> None:
    """The row, made once (the first run is due at once); a no-op when it exists."""
    values = dict(name=SYNC_NAME, next_run_at=now, state=SyncState.PENDING, detail="")
    insert = pg_insert if not db.is_sqlite else sqlite_insert
    with db.session() as session:
        session.execute(insert(ThousandEyesSyncRow.__table__).values(**values)
                        .on_conflict_do_nothing(index_elements=["name"]))
