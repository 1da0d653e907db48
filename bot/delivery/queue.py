"""The outbox queue: claim, finish, retry and dead-letter jobs in the app's database.

Claiming is safe across threads and processes: PostgreSQL locks the chosen row with
``FOR UPDATE SKIP LOCKED``; SQLite runs every transaction as ``BEGIN IMMEDIATE`` (one
writer at a time, see ``bot.store.database``). Jobs of one alert run in order: a job is
claimable only when no earlier job of its alert is still pending or running, with one
exception: a parent refresh does not wait for earlier thread notes (see
``REFRESH_OVERTAKES``).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Collection

from sqlalchemy import ColumnElement, and_, exists, not_, or_, select, update
from sqlalchemy.orm import aliased

from bot.store.database import Database
from bot.store.models import JobKind, JobRow, JobStatus

log = logging.getLogger(__name__)

# Kinds that call chat.postMessage, the call Slack limits to ~1/s per channel.
POSTING_KINDS = frozenset(
    {JobKind.WEBHOOK_TEST, JobKind.UNKNOWN_EVENT, JobKind.ALERT_TRIGGER, JobKind.ALERT_CLEAR,
     JobKind.ACK_NOTE}
)

# Kinds of earlier jobs that a REFRESH_PARENT of the same alert does not wait for.
# A refresh re-renders the parent from the state stored when it runs, and a thread note
# never changes the parent: waiting for notes only held the parent behind the channel's
# paced posts (a second click showed ~20 s late during a storm). A refresh still waits
# for the jobs that create or change the parent (trigger, clear) and for an earlier
# refresh, so two never run at once on two workers and land out of order. Every other
# kind waits for every earlier job of its alert: a clear follows the notes before it.
REFRESH_OVERTAKES = frozenset({JobKind.ACK_NOTE})
OPEN_STATUSES = (JobStatus.PENDING, JobStatus.RUNNING)


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    kind: str
    alert_id: int | None
    event_pk: int | None
    channel: str
    attempts: int
    worker_id: str = ""
    team_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


_BOOT_ID = secrets.token_hex(4)  # tells this process from an earlier one with its pid


def worker_identity() -> str:
    """host:pid:boot, so a restarted process can recognise jobs its dead predecessor held."""
    return f"{socket.gethostname()}:{os.getpid()}:{_BOOT_ID}"


def claim_next(
    db: Database,
    worker_id: str,
    now: datetime,
    lease: timedelta,
    blocked_channels: Collection[str] = (),
    paced_channels: Collection[str] = (),
) -> ClaimedJob | None:
    """Claim the job that has been due longest, skipping channels that must not be called now.

    Ordering by due time rather than by id keeps a job that fails over and over (and so
    is due again and again) from starving the jobs queued after it.

    ``blocked_channels`` (Retry-After) exclude every job of the channel;
    ``paced_channels`` (a post was just made) exclude only jobs that post.
    """
    conditions = [
        or_(
            and_(JobRow.status == JobStatus.PENDING, JobRow.next_attempt_at <= now),
            and_(JobRow.status == JobStatus.RUNNING, JobRow.locked_until < now),
        ),
        or_(JobRow.alert_id.is_(None), not_(_earlier_job_to_wait_for())),
    ]
    if blocked_channels:
        conditions.append(JobRow.channel.not_in(list(blocked_channels)))
    if paced_channels:
        conditions.append(
            not_(and_(JobRow.channel.in_(list(paced_channels)),
                      JobRow.kind.in_(list(POSTING_KINDS))))
        )
    statement = (
        select(JobRow)
        .where(*conditions)
        .order_by(JobRow.next_attempt_at, JobRow.id)
        .limit(1)
        .with_for_update(skip_locked=True, of=JobRow)
    )
    with db.session() as session:
        row = session.scalars(statement).first()
        if row is None:
            return None
        if row.status == JobStatus.RUNNING:
            log.warning("job %d: lease of %s expired; taking it over", row.id, row.locked_by)
        row.status = JobStatus.RUNNING
        row.locked_by = worker_id
        row.locked_until = now + lease
        row.attempts += 1
        row.updated_at = now
        return ClaimedJob(
            id=row.id, kind=row.kind, alert_id=row.alert_id, event_pk=row.event_pk,
            channel=row.channel, attempts=row.attempts, worker_id=worker_id,
            team_id=row.team_id, data=dict(row.data or {}),
        )


def _earlier_job_to_wait_for() -> ColumnElement[bool]:
    """True while an earlier job of the same alert, of a kind this job waits for, is open."""
    earlier = aliased(JobRow)
    waits_for_its_kind = or_(JobRow.kind != JobKind.REFRESH_PARENT,
                             earlier.kind.not_in(list(REFRESH_OVERTAKES)))
    return exists().where(
        earlier.alert_id == JobRow.alert_id,
        earlier.id < JobRow.id,
        earlier.status.in_(OPEN_STATUSES),
        waits_for_its_kind,
    )


def complete(db: Database, job: ClaimedJob, now: datetime) -> bool:
    return _set_held(db, job, status=JobStatus.DONE, locked_by=None, locked_until=None,
                     last_error=None, updated_at=now)


def save_progress(db: Database, job: ClaimedJob, now: datetime, **progress: Any) -> bool:
    """Record a step (e.g. a reply's ts) so a retried job does not repeat it."""
    job.data.update(progress)
    return _set_held(db, job, data=dict(job.data), updated_at=now)


def reschedule(db: Database, job: ClaimedJob, now: datetime, delay: float, error: str) -> bool:
    return _set_held(db, job, status=JobStatus.PENDING, locked_by=None, locked_until=None,
                     next_attempt_at=now + timedelta(seconds=delay), last_error=error[:2000],
                     updated_at=now)


def dead_letter(db: Database, job: ClaimedJob, now: datetime, error: str) -> bool:
    return _set_held(db, job, status=JobStatus.DEAD, locked_by=None, locked_until=None,
                     last_error=error[:2000], updated_at=now)


def release_orphans(db: Database, host: str, now: datetime) -> int:
    """Return to the queue the jobs that dead processes on this host were running.

    Without this a restart after ``kill -9`` would wait for the lease to expire.
    """
    with db.session() as session:
        rows = session.scalars(
            select(JobRow).where(
                JobRow.status == JobStatus.RUNNING, JobRow.locked_by.like(f"{host}:%")
            ).with_for_update()
        ).all()
        released = 0
        for row in rows:
            if _holder_is_gone(row.locked_by or ""):
                row.status = JobStatus.PENDING
                row.locked_by = None
                row.locked_until = None
                row.next_attempt_at = now
                row.updated_at = now
                released += 1
        return released


def revive(db: Database, now: datetime, job_id: int | None = None) -> int:
    """Queue dead jobs again (one, or all of them); returns how many."""
    statement = update(JobRow).where(JobRow.status == JobStatus.DEAD)
    if job_id is not None:
        statement = statement.where(JobRow.id == job_id)
    with db.session() as session:
        result = session.execute(statement.values(
            status=JobStatus.PENDING, attempts=0, next_attempt_at=now, updated_at=now,
        ))
        return result.rowcount or 0


def list_jobs(db: Database, dead_only: bool = False, limit: int = 50) -> list[JobRow]:
    statement = select(JobRow).order_by(JobRow.id.desc()).limit(limit)
    if dead_only:
        statement = statement.where(JobRow.status == JobStatus.DEAD)
    with db.session() as session:
        return list(session.scalars(statement))


def _set_held(db: Database, job: ClaimedJob, **values: Any) -> bool:
    """Update the job only while this claim still holds it.

    A worker whose lease expired must not mark done (or pending again) a job another
    worker has since claimed; ``attempts`` tells two claims by one process apart.
    Returns False when the claim was lost.
    """
    with db.session() as session:
        result = session.execute(
            update(JobRow)
            .where(JobRow.id == job.id, JobRow.status == JobStatus.RUNNING,
                   JobRow.locked_by == job.worker_id, JobRow.attempts == job.attempts)
            .values(**values)
        )
    if not result.rowcount:
        log.warning("job %d: claim lost (lease expired and another worker took it)", job.id)
        return False
    return True


def _holder_is_gone(locked_by: str) -> bool:
    """True when the process named ``host:pid:boot`` on this host no longer runs."""
    parts = locked_by.split(":")
    if len(parts) < 3 or not parts[-2].isdigit():
        return False
    pid, boot = int(parts[-2]), parts[-1]
    if pid == os.getpid():
        # Our own pid with another boot id: an earlier process that had the same pid
        # (common in containers), which cannot be running any more.
        return boot != _BOOT_ID
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """A killed process not yet reaped answers os.kill, but runs no jobs."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            # The state follows the command name, which is in parentheses.
            return stat.read().rsplit(")", 1)[-1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
