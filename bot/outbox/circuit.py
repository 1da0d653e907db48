"""Per workspace: is Slack failing (a half-open circuit), and the budget of history reads.

When a job of a workspace fails on a 5xx, a timeout or a refused connection, the
workspace is marked failing. Its jobs back off as usual, but every ``PROBE_SECONDS`` one
of them (the longest waiting) is made due at once: the probe. The first success on the
workspace closes the circuit and makes every job of it waiting in backoff due now, so after
an outage the alerts go out within a probe interval of Slack's recovery, not after their
backoff (up to a minute) has run out.

The state is in the database, so every process sees it and a restart keeps it. A success
writes to it only when this process has seen the circuit open (it opened it, or its probe
loop, every second, read it open): closing on every job cost a statement per job for a
state that is nearly always closed. A circuit another process opened is closed by the
first success after this process's next probe read.
"""

from __future__ import annotations

import functools
import logging
import threading
import weakref
from datetime import datetime, timedelta

from sqlalchemy import Engine, bindparam, select, text, update
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.expression import ColumnElement

from bot.db.database import Database
from bot.db.models import (
    DeliveryLaneRow,
    DeliveryWorkspaceRow,
    JobRow,
    JobStatus,
    UtcDateTime,
    WaitingFor,
)
from bot.db.prepared import Prepared, RawTransaction
from bot.db.results import affected_rows

log = logging.getLogger(__name__)

PROBE_SECONDS = 5.0

# Per database (its engine): the workspaces whose circuit this process saw open.
_seen_open: weakref.WeakKeyDictionary[Engine, set[str]] = weakref.WeakKeyDictionary()
_seen_lock = threading.Lock()


def _seen(db: Database) -> set[str]:
    with _seen_lock:
        return _seen_open.setdefault(db.engine, set())


def team_key(team_id: str | None) -> str:
    return team_id or ""


def _team_is(column: InstrumentedAttribute[str | None], team_id: str | None) -> ColumnElement[bool]:
    return column.is_(None) if team_id is None else column == team_id


def _ensure(transaction: RawTransaction, team_id: str | None) -> None:
    transaction.rows(_ENSURE, {"team_key": team_key(team_id)})


def note_failure(transaction: RawTransaction, db: Database, team_id: str | None,
                 now: datetime) -> None:
    """Slack did not answer this workspace's call: open the circuit (if not yet open)."""
    _ensure(transaction, team_id)
    _seen(db).add(team_key(team_id))
    opened = transaction.affected(_OPEN, {
        "team_key": team_key(team_id), "now": now,
        "probe_at": now + timedelta(seconds=PROBE_SECONDS)})
    if opened:
        log.warning("Slack is failing for workspace %s; probing every %gs",
                    team_key(team_id) or "(single token)", PROBE_SECONDS)


def note_slack_answer(transaction: RawTransaction, db: Database, team_id: str | None,
                      slack_ok: bool | None, now: datetime) -> bool:
    """What a run learnt of its workspace's Slack: True (it answered) closes the circuit,
    False (it is unavailable) counts a failure, None says nothing. True when this closed
    the circuit, so the jobs waiting out their backoff may go now."""
    if slack_ok is False:
        note_failure(transaction, db, team_id, now)
    return bool(slack_ok) and close(transaction, db, team_id)


def close(transaction: RawTransaction, db: Database, team_id: str | None) -> bool:
    """A call of this workspace succeeded: close its circuit; True if it was open.

    Nothing is written unless this process saw the circuit open (see the module's doc).
    """
    seen = _seen(db)
    if team_key(team_id) not in seen:
        return False
    seen.discard(team_key(team_id))
    return bool(transaction.affected(_CLOSE, {"team_key": team_key(team_id)}))


# Run in the finish of a job (bot.outbox.queue), on its transaction: compiled once.
_WORKSPACES = DeliveryWorkspaceRow.__table__
_KEY = bindparam("team_key", type_=_WORKSPACES.c.team_key.type)
# Both databases take this upsert as written; a row another process added is left as is.
_ENSURE = Prepared(text("INSERT INTO delivery_workspaces (team_key) VALUES (:team_key)"
                        " ON CONFLICT DO NOTHING").bindparams(_KEY))
_OPEN = Prepared(
    update(_WORKSPACES)
    .where(_WORKSPACES.c.team_key == _KEY, _WORKSPACES.c.failing_since.is_(None))
    .values(failing_since=bindparam("now", type_=UtcDateTime()),
            probe_at=bindparam("probe_at", type_=UtcDateTime())))
_CLOSE = Prepared(
    update(_WORKSPACES)
    .where(_WORKSPACES.c.team_key == _KEY, _WORKSPACES.c.failing_since.is_not(None))
    .values(failing_since=None, probe_at=None))


def release_backoff(db: Database, team_id: str | None, now: datetime) -> int:
    """Make every job of the workspace waiting out a backoff due now; returns how many."""
    with db.session() as session:
        released = affected_rows(session.execute(
            update(JobRow)
            .where(JobRow.waiting_for == WaitingFor.BACKOFF, _team_is(JobRow.team_id, team_id),
                   JobRow.status == JobStatus.PENDING)
            .values(next_attempt_at=now, waiting_for=None)
        )) or 0
    with db.session() as session:
        session.execute(
            update(DeliveryLaneRow)
            .where(_team_is(DeliveryLaneRow.team_id, team_id), DeliveryLaneRow.ready_at > now)
            .values(ready_at=now)
        )
    log.info("Slack answers again for workspace %s: %d job(s) in backoff released",
             team_key(team_id) or "(single token)", released)
    return released


def probe_failing_workspaces(db: Database, now: datetime) -> int:
    """Make one job in backoff due now in each failing workspace whose probe is due.

    Every process runs this; the conditional update lets one of them win each probe.
    Returns how many jobs were made due.
    """
    with db.session() as session:
        due = list(session.scalars(select(DeliveryWorkspaceRow.team_key).where(
            DeliveryWorkspaceRow.probe_at <= now)))
    # Open circuits, whichever process opened them: a success here may now close them.
    _seen(db).update(due)
    probed = 0
    for key in due:
        team_id = key or None
        with db.session() as session:
            won = affected_rows(session.execute(
                update(DeliveryWorkspaceRow)
                .where(DeliveryWorkspaceRow.team_key == key, DeliveryWorkspaceRow.probe_at <= now)
                .values(probe_at=now + timedelta(seconds=PROBE_SECONDS))
            ))
            if not won:
                continue
            job = session.scalars(
                select(JobRow)
                .where(JobRow.waiting_for == WaitingFor.BACKOFF, _team_is(JobRow.team_id, team_id),
                       JobRow.status == JobStatus.PENDING, JobRow.next_attempt_at > now)
                .order_by(JobRow.next_attempt_at, JobRow.id).limit(1)
            ).first()
            if job is None:
                continue
            job.next_attempt_at = now
            session.execute(update(DeliveryLaneRow).where(DeliveryLaneRow.lane == job.lane)
                            .values(ready_at=now))
            probed += 1
    return probed


def take_lookup(db: Database, team_id: str | None, thread: bool, now: datetime,
                interval: timedelta) -> bool:
    """Take the workspace's one history read per ``interval``; False when it is spent.

    Slack limits ``conversations.history`` and ``conversations.replies`` to about one
    call a minute for apps installed outside the Marketplace, per workspace and method.
    """
    column = "next_replies_at" if thread else "next_history_at"
    with db.raw_transaction() as transaction:
        _ensure(transaction, team_id)
        return bool(transaction.affected(_take_lookup_statement(column), {
            "team_key": team_key(team_id), "now": now, "next_at": now + interval}))


@functools.lru_cache(maxsize=2)
def _take_lookup_statement(column: str) -> Prepared:
    attribute = _WORKSPACES.c[column]
    now = bindparam("now", type_=UtcDateTime())
    return Prepared(update(_WORKSPACES)
                    .where(_WORKSPACES.c.team_key == _KEY, (attribute.is_(None)) | (attribute <= now))
                    .values({column: bindparam("next_at", type_=UtcDateTime())}))
