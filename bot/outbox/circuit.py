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

import logging
import threading
import weakref
from datetime import datetime, timedelta

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.expression import ColumnElement

from bot.db.database import Database
from bot.db.models import DeliveryLaneRow, DeliveryWorkspaceRow, JobRow, JobStatus, WaitingFor
from bot.db.results import affected_rows

log = logging.getLogger(__name__)

PROBE_SECONDS = 5.0

# Per database (its engine): the workspaces whose circuit this process saw open.
_seen_open: weakref.WeakKeyDictionary[Engine, set[str]] = weakref.WeakKeyDictionary()
_seen_lock = threading.Lock()


def _seen(session_or_db: Session | Database) -> set[str]:
    engine = (session_or_db.engine if isinstance(session_or_db, Database)
              else session_or_db.get_bind().engine)
    with _seen_lock:
        return _seen_open.setdefault(engine, set())


def team_key(team_id: str | None) -> str:
    return team_id or ""


def _team_is(column: InstrumentedAttribute[str | None], team_id: str | None) -> ColumnElement[bool]:
    return column.is_(None) if team_id is None else column == team_id


def _ensure(session: Session, team_id: str | None) -> None:
    if session.get(DeliveryWorkspaceRow, team_key(team_id)) is None:
        session.add(DeliveryWorkspaceRow(team_key=team_key(team_id)))
        session.flush()


def note_failure(session: Session, team_id: str | None, now: datetime) -> None:
    """Slack did not answer this workspace's call: open the circuit (if not yet open)."""
    _ensure(session, team_id)
    _seen(session).add(team_key(team_id))
    opened = affected_rows(session.execute(
        update(DeliveryWorkspaceRow)
        .where(DeliveryWorkspaceRow.team_key == team_key(team_id),
               DeliveryWorkspaceRow.failing_since.is_(None))
        .values(failing_since=now, probe_at=now + timedelta(seconds=PROBE_SECONDS))
    ))
    if opened:
        log.warning("Slack is failing for workspace %s; probing every %gs",
                    team_key(team_id) or "(single token)", PROBE_SECONDS)


def note_slack_answer(session: Session, team_id: str | None, slack_ok: bool | None,
                      now: datetime) -> bool:
    """What a run learnt of its workspace's Slack: True (it answered) closes the circuit,
    False (it is unavailable) counts a failure, None says nothing. True when this closed
    the circuit, so the jobs waiting out their backoff may go now."""
    if slack_ok is False:
        note_failure(session, team_id, now)
    return bool(slack_ok) and close(session, team_id)


def close(session: Session, team_id: str | None) -> bool:
    """A call of this workspace succeeded: close its circuit; True if it was open.

    Nothing is written unless this process saw the circuit open (see the module's doc).
    """
    seen = _seen(session)
    if team_key(team_id) not in seen:
        return False
    seen.discard(team_key(team_id))
    workspaces = DeliveryWorkspaceRow.__table__
    return bool(affected_rows(session.execute(
        update(workspaces)
        .where(workspaces.c.team_key == team_key(team_id), workspaces.c.failing_since.is_not(None))
        .values(failing_since=None, probe_at=None)
    )))


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
    with db.session() as session:
        _ensure(session, team_id)
        attribute = getattr(DeliveryWorkspaceRow, column)
        return bool(affected_rows(session.execute(
            update(DeliveryWorkspaceRow)
            .where(DeliveryWorkspaceRow.team_key == team_key(team_id),
                   (attribute.is_(None)) | (attribute <= now))
            .values({column: now + interval})
        )))
