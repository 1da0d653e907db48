"""Leases on running jobs: renewed by heartbeats, taken over when their holder is gone.

A worker holds a job (and a posting job its lane) for ``lease`` from its last heartbeat.
A holder that stops renewing (it died, or its host did) loses the job when the lease
lapses, to whichever process looks first; on the same host a restarted process also
recognises its dead predecessor's jobs by ``host:pid:boot`` and takes them over at once.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import select, update

from bot.db.database import Database
from bot.db.models import DeliveryLaneRow, JobRow, JobStatus
from bot.db.results import affected_rows
from bot.ids import parse_id
from bot.outbox.lanes import ready_lanes

log = logging.getLogger(__name__)

_BOOT_ID = secrets.token_hex(4)  # tells this process from an earlier one with its pid


def worker_identity() -> str:
    """host:pid:boot, so a restarted process can recognise jobs its dead predecessor held."""
    return f"{socket.gethostname()}:{os.getpid()}:{_BOOT_ID}"


def heartbeat(db: Database, worker_id: str, holds: Collection[str], now: datetime,
              lease: timedelta) -> int:
    """Renew the leases of the jobs (and the lanes) this worker holds; returns the jobs."""
    with db.session() as session:
        renewed = affected_rows(session.execute(
            update(JobRow)
            .where(JobRow.status == JobStatus.RUNNING, JobRow.locked_by == worker_id)
            .values(locked_until=now + lease)
        )) or 0
        if holds:
            session.execute(
                update(DeliveryLaneRow).where(DeliveryLaneRow.held_by.in_(sorted(holds)))
                .values(held_until=now + lease)
            )
    return renewed


def expire_leases(db: Database, now: datetime) -> int:
    """Queue again the jobs whose holder stopped renewing its lease (it died, or its host).

    The job keeps its progress, so a post that may have been in flight is looked for
    before it is posted again.
    """
    with db.session() as session:
        rows = session.scalars(
            select(JobRow)
            .where(JobRow.status == JobStatus.RUNNING, JobRow.locked_until < now)
            .with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            log.warning("job %d: the lease of %s expired; queueing it again", row.id, row.locked_by)
            _requeue(row, now)
        ready_lanes(session, {row.lane for row in rows}, now)
        return len(rows)


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
        released = [row for row in rows if _holder_is_gone(row.locked_by or "")]
        holds = sorted(f"{row.locked_by}/{row.id}" for row in released)
        for row in released:
            _requeue(row, now)
        ready_lanes(session, {row.lane for row in released}, now)
        if holds:
            session.execute(update(DeliveryLaneRow).where(DeliveryLaneRow.held_by.in_(holds))
                            .values(held_by=None, held_until=None))
        return len(released)


def _requeue(row: JobRow, now: datetime) -> None:
    row.status = JobStatus.PENDING
    row.locked_by = None
    row.locked_until = None
    row.next_attempt_at = now
    row.updated_at = now


def _holder_is_gone(locked_by: str) -> bool:
    """True when the process named ``host:pid:boot`` on this host no longer runs."""
    parts = locked_by.split(":")
    pid = parse_id(parts[-2]) if len(parts) >= 3 else None
    if pid is None:
        return False
    boot = parts[-1]
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
