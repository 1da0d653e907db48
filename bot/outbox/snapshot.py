"""What the outbox looks like now, read from the database: the facts ``/metrics`` and
``/healthz`` report about delivery.

The database is the one place every process shares (web workers, ``python -m bot
worker`` processes, on this host or another), so queue depth, the age of the oldest job,
dead letters and "is delivery making progress" are read from it when asked, exact
however many processes deliver, instead of being counted by each process.

Each query goes through an index on ``status`` (``ix_outbox_jobs_claim``) or
``waiting_for``; the one that does not, "did anything happen lately", runs only when a job
has already been due for longer than the stuck threshold, and reads newest jobs first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from bot.db.database import Database
from bot.db.models import JobRow, JobStatus

# The statuses whose counts are reported: what is waiting, in flight, or given up on.
# Done jobs are counted by the delivery counters (bot.metrics.counters), not by scanning them.
REPORTED_STATUSES = (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.DEAD)


@dataclass(frozen=True)
class QueueSnapshot:
    # (status, kind) -> jobs, for the statuses in REPORTED_STATUSES
    jobs: dict[tuple[str, str], int] = field(default_factory=dict)
    due: int = 0  # pending jobs whose time has come
    waiting: dict[str, int] = field(default_factory=dict)  # pending, by WaitingFor reason
    oldest_open_age: float = 0.0  # seconds since the oldest pending or running job was queued
    oldest_due_wait: float = 0.0  # seconds the longest-due pending job has been due
    # A job has been due longer than the threshold and no job was claimed, finished or
    # retried meanwhile: nothing is delivering.
    stuck: bool = False

    def count(self, status: str) -> int:
        return sum(n for (s, _kind), n in self.jobs.items() if s == status)


def read_queue(db: Database, now: datetime, stuck_after: timedelta | None) -> QueueSnapshot:
    """The outbox now. Raises SQLAlchemyError when the database does not answer."""
    with db.session() as session:
        rows = session.execute(
            select(JobRow.status, JobRow.kind, func.count(), func.min(JobRow.created_at))
            .where(JobRow.status.in_(REPORTED_STATUSES))
            .group_by(JobRow.status, JobRow.kind)
        ).all()
        due, oldest_due = session.execute(
            select(func.count(), func.min(JobRow.next_attempt_at))
            .where(JobRow.status == JobStatus.PENDING, JobRow.next_attempt_at <= now)
        ).one()
        waiting = dict(session.execute(
            select(JobRow.waiting_for, func.count())
            .where(JobRow.waiting_for.is_not(None), JobRow.status == JobStatus.PENDING)
            .group_by(JobRow.waiting_for)
        ).tuples().all())
        oldest_open = min((created for status, _k, _n, created in rows
                           if status != JobStatus.DEAD and created is not None), default=None)
        due_wait = _seconds(now - oldest_due) if oldest_due is not None else 0.0
        stuck = (stuck_after is not None and due_wait > stuck_after.total_seconds()
                 and not _delivered_lately(session, now, stuck_after))
    return QueueSnapshot(
        jobs={(status, kind): count for status, kind, count, _created in rows},
        due=due or 0,
        waiting={str(reason): count for reason, count in waiting.items()},
        oldest_open_age=_seconds(now - oldest_open) if oldest_open is not None else 0.0,
        oldest_due_wait=due_wait,
        stuck=stuck,
    )


def _delivered_lately(session: Session, now: datetime, window: timedelta) -> bool:
    """Whether any delivery thread, in any process, did something in the last ``window``.

    A claim and an outcome both set ``updated_at``; a new job sets it too, but a new job
    has no attempt and no error yet, so it is not mistaken for progress. A job running
    under a live lease (heartbeats renew ``locked_until``) counts: Slack may be slow, but
    its worker is alive.
    """
    since = now - window
    activity = or_(
        and_(JobRow.status == JobStatus.RUNNING, JobRow.locked_until >= now),
        and_(JobRow.updated_at >= since,
             or_(JobRow.status != JobStatus.PENDING, JobRow.attempts > 0,
                 JobRow.last_error.is_not(None))),
    )
    # Newest first: the jobs that moved lately are among the newest, so a backlog that is
    # moving finds one after the pending jobs instead of after every finished one.
    return session.scalar(
        select(JobRow.id).where(activity).order_by(JobRow.id.desc()).limit(1)) is not None


def _seconds(delta: timedelta) -> float:
    return max(0.0, delta.total_seconds())
