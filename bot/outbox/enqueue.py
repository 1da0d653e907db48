"""Adding outbox jobs inside the transaction that changes the state they deliver.

Every new job also marks its delivery lane ready (``DeliveryLaneRow``), in the same
transaction, so a claim finds it by looking at ready lanes only. The lane is touched last:
on PostgreSQL its row lock is then held only for the moment before the commit.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import TextualSelect, bindparam, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from bot.db.database import Database
from bot.db.models import AlertRow, DeliveryLaneRow, JobKind, JobRow, JobStatus, StormRow
from bot.db.prepared import Prepared, RawTransaction, insert_returning_id
from bot.outbox.kinds import lane_of, priority_of

# The ``cause`` of a refresh queued by an Acknowledge click: bot.metrics.counters times those.
CLICK_CAUSE = "click"
# A lane nobody has posted in yet may post at once.
_EPOCH = datetime.fromisoformat("2000-01-01T00:00:00+00:00")


def enqueue(
    session: Session, *, kind: str, alert_id: int | None, channel: str, now: datetime,
    team_id: str | None = None, event_pk: int | None = None,
    data: dict[str, Any] | None = None, default_channel: str = "", due: datetime | None = None,
) -> JobRow:
    """Add a job in the caller's transaction: the state change and its job commit together."""
    values = job_values(kind=kind, alert_id=alert_id, channel=channel, now=now,
                        team_id=team_id, event_pk=event_pk, data=data,
                        default_channel=default_channel, due=due)
    job = JobRow(**values)
    session.add(job)
    session.flush()
    mark_lane_ready(session.connection(), values)
    return job


def enqueue_in(transaction: RawTransaction, *, kind: str, alert_id: int | None, channel: str,
               now: datetime, team_id: str | None = None, event_pk: int | None = None,
               data: dict[str, Any] | None = None, default_channel: str = "",
               due: datetime | None = None) -> int:
    """:func:`enqueue` on a raw transaction (bot.db.prepared); returns the job's id."""
    values = job_values(kind=kind, alert_id=alert_id, channel=channel, now=now,
                        team_id=team_id, event_pk=event_pk, data=data,
                        default_channel=default_channel, due=due)
    job_id = transaction.scalar(INSERT_JOB, dict(values, progress={}))
    assert job_id is not None  # no ON CONFLICT: the insert returns its id or fails
    transaction.first(MARK_LANE_READY, lane_ready_values(values))
    return int(job_id)


def job_values(
    *, kind: str, alert_id: int | None, channel: str, now: datetime,
    team_id: str | None = None, event_pk: int | None = None,
    data: dict[str, Any] | None = None, default_channel: str = "", due: datetime | None = None,
) -> dict[str, Any]:
    """The columns of a new pending job, for the ORM and for Core inserts alike.

    ``channel`` '' stands for the route's default channel, resolved when the job runs;
    the job is paced in the lane of ``default_channel`` (SLACK_CHANNEL), so it shares
    its pacing with jobs that name that channel. ``due``: when it may run (default now).
    """
    return dict(
        alert_id=alert_id, event_pk=event_pk, kind=kind, channel=channel, team_id=team_id,
        status=JobStatus.PENDING, attempts=0, next_attempt_at=due or now, created_at=now,
        updated_at=now, data=data or {}, lane=lane_of(kind, team_id, channel or default_channel),
        priority=priority_of(kind), waiting_for=None,
    )


def mark_lane_ready(connection: Connection, job: dict[str, Any]) -> datetime:
    """Tell claimers the job's lane has work from its due time; returns when the job can
    start at the earliest (its due time, or the lane's next post slot if later).

    Always a write, never a read-then-write: a claimer that found the lane empty and is
    marking it idle holds the row lock, so this waits for it and then marks it ready, and
    no job is left in a lane marked idle.
    """
    row = connection.execute(mark_ready_statement(), lane_ready_values(job)).one()
    return job_due_time(job, row)


def lane_ready_values(job: dict[str, Any]) -> dict[str, Any]:
    """The parameters of :func:`mark_ready_statement` for a new job's values."""
    return dict(lane=job["lane"], team_id=job["team_id"], channel=job["channel"],
                due=job["next_attempt_at"], epoch=_EPOCH)


def job_due_time(job: dict[str, Any], lane: Any) -> datetime:
    """When a new job can start at the earliest, given its lane's row as marked ready."""
    # A post in flight holds the lane until its answer; its end is not known here, but
    # the thread that made it wakes one for the lane's next slot.
    due: datetime = max(t for t in (job["next_attempt_at"], lane.next_post_at, lane.held_until) if t)
    return due


@functools.lru_cache(maxsize=1)
def mark_ready_statement() -> TextualSelect:
    """Mark a lane ready from a due time (earliest wins); returns the lane's pacing."""
    # A text statement: SQLAlchemy does not cache the compiled form of its dialects'
    # upserts (see bot.store.ingest); SQLite and PostgreSQL share this syntax.
    columns = DeliveryLaneRow.__table__.c
    return text(
        "INSERT INTO delivery_lanes (lane, team_id, channel, next_post_at, ready_at)"
        " VALUES (:lane, :team_id, :channel, :epoch, :due)"
        " ON CONFLICT (lane) DO UPDATE SET ready_at = CASE"
        " WHEN delivery_lanes.ready_at IS NULL OR delivery_lanes.ready_at > excluded.ready_at"
        " THEN excluded.ready_at ELSE delivery_lanes.ready_at END"
        " RETURNING next_post_at, held_until"
    ).bindparams(
        bindparam("lane", type_=columns.lane.type),
        bindparam("team_id", type_=columns.team_id.type),
        bindparam("channel", type_=columns.channel.type),
        bindparam("epoch", type_=columns.next_post_at.type),
        bindparam("due", type_=columns.ready_at.type),
    ).columns(next_post_at=columns.next_post_at.type, held_until=columns.held_until.type)


def enqueue_parent_refresh(
    session: Session, *, alert_id: int, channel: str, now: datetime, team_id: str | None = None,
    cause: str | None = None,
) -> JobRow:
    """Queue a re-render of the alert's parent, unless one is already waiting to start.

    A refresh renders the state stored when it runs, so a pending one will show this
    change too; a second would only call ``chat.update`` again. One that is running
    may have read the state already, so then a new one is queued (it runs after it).
    """
    # An alert in a storm has the roll-up for its parent, re-rendered only by the jobs of
    # the storm's anchor alert, so that roll-up updates never overtake each other.
    anchor = session.scalar(
        select(StormRow.anchor_alert_id).join(AlertRow, AlertRow.storm_id == StormRow.id)
        .where(AlertRow.id == alert_id))
    if anchor is not None and anchor != alert_id:
        alert_id = anchor
        channel = session.scalar(select(AlertRow.channel).where(AlertRow.id == anchor)) or ""
    waiting = _lock_pending_refresh(session, alert_id)
    if waiting is not None:
        return waiting
    # ``cause`` (a click) lets bot.metrics.counters time click -> updated parent.
    return enqueue(session, kind=JobKind.REFRESH_PARENT, alert_id=alert_id, channel=channel,
                   team_id=team_id, now=now, data={"cause": cause} if cause else None)


def queue_parent_refresh(db: Database, *, alert_id: int, channel: str, now: datetime,
                         team_id: str | None = None) -> None:
    """:func:`enqueue_parent_refresh` in a transaction of its own (delivery asks for one
    after a post that changes what the parent shows: every chat.update runs in a refresh,
    in the workspace's update budget)."""
    with db.session() as session:
        enqueue_parent_refresh(session, alert_id=alert_id, channel=channel, now=now,
                               team_id=team_id)


def newer_refresh_waiting(db: Database, alert_id: int, job_id: int) -> bool:
    """Whether a refresh of the alert queued after job ``job_id`` waits to start."""
    with db.session() as session:
        return session.scalar(
            select(JobRow.id)
            .where(JobRow.alert_id == alert_id, JobRow.status == JobStatus.PENDING,
                   JobRow.kind == JobKind.REFRESH_PARENT, JobRow.id > job_id)
            .limit(1)) is not None


def _lock_pending_refresh(session: Session, alert_id: int) -> JobRow | None:
    """The alert's pending refresh, locked until the caller's transaction ends.

    The lock is what makes merging safe: a worker cannot claim the refresh (and render
    the state without this transaction's change) before this transaction commits.
    PostgreSQL: claiming skips locked rows; a claim that got here first makes this
    query wait, re-check ``status`` and find nothing, so a new refresh is queued.
    SQLite: every transaction is a writer (``BEGIN IMMEDIATE``), so no claim runs
    meanwhile.
    """
    return session.scalar(
        select(JobRow)
        .where(JobRow.alert_id == alert_id, JobRow.kind == JobKind.REFRESH_PARENT,
               JobRow.status == JobStatus.PENDING)
        .order_by(JobRow.id.desc())
        .limit(1)
        .with_for_update()
    )


# A job and its lane as raw transactions write them (ingest, a storm's notes): compiled once.
_JOB_COLUMNS = (*job_values(kind="", alert_id=None, channel="", now=_EPOCH), "progress")
INSERT_JOB = Prepared(insert_returning_id(JobRow.__table__, tuple(_JOB_COLUMNS),
                                          unless_present=False))
MARK_LANE_READY = Prepared(mark_ready_statement(), (
    ("next_post_at", DeliveryLaneRow.__table__.c.next_post_at.type),
    ("held_until", DeliveryLaneRow.__table__.c.held_until.type),
))
