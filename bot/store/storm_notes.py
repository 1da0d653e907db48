"""A storm's thread notes, gathered: what cleared and who acknowledged since the last reply.

Clears of alerts listed in a roll-up, and acknowledgements clicked on it, are not posted
one by one: each is added to the storm's pending ``STORM_NOTES`` job (a job of its anchor
alert, like every message of the roll-up; see bot.store.storms), which posts one reply
for all of them and then refreshes the roll-up once.

Exactly once, across processes and restarts: a note is added in the transaction that
records what it tells (the clear at ingest, the click, or the handover of an alert's own
clear job), and only to a notes job no worker ever took. Once one is taken its post may
exist (after a crash the job looks for it by its marker, bot.delivery.handlers), so what
it says is fixed; later notes start a new job, which runs after it (an alert's jobs run
in order). PostgreSQL: the pending job is locked while a note is added, and a claim skips
locked jobs; SQLite: every transaction is the only writer.

A batch waits until its storm has had no new note for ``GATHER_QUIET``, and at most
``GATHER_MAX`` after its first: a storm that ends over a few seconds ends in one reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, literal_column, select, update
from sqlalchemy.orm import Session

from bot.db.models import AlertRow, JobKind, JobRow, JobStatus, StormRow, UtcDateTime
from bot.db.prepared import Prepared, RawTransaction
from bot.outbox.enqueue import enqueue, enqueue_in

GATHER_QUIET = timedelta(seconds=1)
GATHER_MAX = timedelta(seconds=10)


@dataclass(frozen=True)
class AckNote:
    """One click on the roll-up: who, and which alerts it acknowledged (or withdrew)."""

    user_id: str
    user_name: str
    alert_ids: tuple[int, ...]
    acknowledged: bool = True
    all_open: bool = False  # "Acknowledge all"

    def to_data(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "user_name": self.user_name,
                "alerts": list(self.alert_ids), "acknowledged": self.acknowledged,
                "all": self.all_open}

    @classmethod
    def from_data(cls, data: Any) -> AckNote | None:
        if not isinstance(data, dict):
            return None
        return cls(str(data.get("user_id", "")), str(data.get("user_name", "")),
                   _ids(data.get("alerts")), bool(data.get("acknowledged", True)),
                   bool(data.get("all")))


@dataclass(frozen=True)
class StormNotes:
    """What one reply in a roll-up's thread tells (a notes job's ``data``)."""

    cleared: tuple[int, ...] = ()  # alert ids, in the order they cleared
    acks: tuple[AckNote, ...] = ()

    def plus(self, other: StormNotes) -> StormNotes:
        return StormNotes(self.cleared + other.cleared, self.acks + other.acks)

    def to_data(self) -> dict[str, Any]:
        return {"cleared": list(self.cleared), "acks": [ack.to_data() for ack in self.acks]}

    @classmethod
    def from_data(cls, data: Any) -> StormNotes:
        """Read what was stored; entries that are not notes are left out."""
        if not isinstance(data, dict):
            return cls()
        acks = data.get("acks")
        found = [AckNote.from_data(ack) for ack in acks] if isinstance(acks, list) else []
        return cls(_ids(data.get("cleared")), tuple(ack for ack in found if ack is not None))


def _ids(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, int) and not isinstance(item, bool))


def gathered_until(first_noted_at: datetime, now: datetime) -> datetime:
    """When a batch whose first note came at ``first_noted_at`` is told, given one now."""
    return min(now + GATHER_QUIET, first_noted_at + GATHER_MAX)


# --- adding notes: in an ORM session (clicks, a clear job's handover) ----------------------

def add_notes(session: Session, storm_id: int, notes: StormNotes, now: datetime,
              default_channel: str = "") -> None:
    """Add ``notes`` to the storm's pending notes job, or queue one, in the caller's
    transaction (which records what the notes tell)."""
    anchor = session.execute(_anchor_statement(), {"storm_id": storm_id}).first()
    if anchor is None:
        return
    pending = session.execute(_pending_statement(), {"anchor": anchor.anchor_alert_id}).all()
    if pending:
        latest = pending[-1]
        session.execute(_merge_statement(), _merged(latest, notes, now))
        return
    enqueue(session, kind=JobKind.STORM_NOTES, alert_id=anchor.anchor_alert_id,
            channel=anchor.channel, team_id=anchor.slack_team, now=now,
            data=notes.to_data(), default_channel=default_channel,
            due=gathered_until(now, now))


# --- adding notes on a raw transaction: a clear at ingest, a clear job's handover ---------

@dataclass(frozen=True)
class NewNotesJob:
    """A notes job to queue (the caller inserts it as it inserts its other jobs)."""

    alert_id: int  # the storm's anchor
    channel: str
    team_id: str | None
    data: dict[str, Any]
    due: datetime


def add_clear_in(transaction: RawTransaction, storm_id: int, alert_id: int,
                 now: datetime) -> NewNotesJob | None:
    """The alert's clear, added to its storm's pending notes job in the webhook's
    transaction; or the notes job to queue when none is pending (None: added, or the
    storm is gone)."""
    return _merge_in(transaction, storm_id, StormNotes(cleared=(alert_id,)), now)


def add_notes_in(transaction: RawTransaction, storm_id: int, notes: StormNotes, now: datetime,
                 default_channel: str = "") -> None:
    """:func:`add_notes` on a raw transaction (a clear job's handover, recorded with its
    progress: bot.outbox.queue.save_progress)."""
    new = _merge_in(transaction, storm_id, notes, now)
    if new is not None:
        enqueue_in(transaction, kind=JobKind.STORM_NOTES, alert_id=new.alert_id,
                   channel=new.channel, team_id=new.team_id, now=now, data=new.data,
                   default_channel=default_channel, due=new.due)


def _merge_in(transaction: RawTransaction, storm_id: int, notes: StormNotes,
              now: datetime) -> NewNotesJob | None:
    """Add ``notes`` to the storm's pending notes job; or the job to queue when none is
    pending (None: added, or the storm is gone)."""
    anchor = transaction.first(_ANCHOR, {"storm_id": storm_id})
    if anchor is None:
        return None
    pending = transaction.rows(_PENDING, {"anchor": anchor.anchor_alert_id})
    if pending:
        transaction.rows(_MERGE, _merged(pending[-1], notes, now))
        return None
    return NewNotesJob(anchor.anchor_alert_id, anchor.channel, anchor.slack_team,
                       notes.to_data(), gathered_until(now, now))


def _merged(pending: Any, notes: StormNotes, now: datetime) -> dict[str, Any]:
    data = StormNotes.from_data(pending.data).plus(notes).to_data()
    return {"job_id": pending.id, "data": data, "now": now,
            "due": gathered_until(pending.created_at, now)}


# Statements with bound parameters only (constants inlined): the ORM path and the
# prepared path run the same SQL.
_JOBS = JobRow.__table__


def _anchor_statement() -> Select[Any]:
    return (select(StormRow.anchor_alert_id, AlertRow.channel, AlertRow.slack_team)
            .join(AlertRow, AlertRow.id == StormRow.anchor_alert_id)
            .where(StormRow.id == bindparam("storm_id")))


def _pending_statement() -> Select[Any]:
    """The anchor's notes jobs no worker took yet (normally one), locked, oldest first."""
    return (select(_JOBS.c.id, _JOBS.c.data, _JOBS.c.created_at)
            .where(_JOBS.c.alert_id == bindparam("anchor"),
                   _JOBS.c.kind == literal_column(f"'{JobKind.STORM_NOTES.value}'"),
                   _JOBS.c.status == literal_column(f"'{JobStatus.PENDING}'"),
                   # Taken once (a 429 gives the attempt back, not the error): fixed.
                   _JOBS.c.attempts == literal_column("0"), _JOBS.c.last_error.is_(None))
            .order_by(_JOBS.c.id)
            .with_for_update())


def _merge_statement() -> Any:
    return (update(_JOBS).where(_JOBS.c.id == bindparam("job_id"))
            .values(data=bindparam("data", type_=_JOBS.c.data.type),
                    next_attempt_at=bindparam("due", type_=UtcDateTime()),
                    updated_at=bindparam("now", type_=UtcDateTime())))


_ANCHOR = Prepared(_anchor_statement(), (
    ("anchor_alert_id", AlertRow.__table__.c.id.type),
    ("channel", AlertRow.__table__.c.channel.type),
    ("slack_team", AlertRow.__table__.c.slack_team.type),
))
_PENDING = Prepared(_pending_statement(), (
    ("id", _JOBS.c.id.type), ("data", _JOBS.c.data.type), ("created_at", UtcDateTime()),
))
_MERGE = Prepared(_merge_statement())
