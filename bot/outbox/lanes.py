"""Delivery lanes after a run: the hold freed, the next post slot, the channel's id, and
the lanes of jobs that waited for this one made ready.

A lane (``DeliveryLaneRow``) is one channel's posts, or one workspace's updates; a claim
looks only at ready lanes (``bot.outbox.queue``). Every lane a finishing run touches is
locked at once, in one order, so two finishing jobs never wait for each other's lanes
(no deadlock on PostgreSQL).
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, CompoundSelect, bindparam, exists, or_, select, union, update
from sqlalchemy.orm import Session

from bot.db.database import Database
from bot.db.models import AlertRow, DeliveryLaneRow, JobRow, JobStatus, UtcDateTime
from bot.db.prepared import Prepared, RawTransaction
from bot.db.results import affected_rows
from bot.outbox.claimed import ClaimedJob
from bot.outbox.kinds import POSTING_KINDS
from bot.outbox.outcome import Outcome, Retry

_JOBS = JobRow.__table__
_LANES = DeliveryLaneRow.__table__
_ALERTS = AlertRow.__table__


@dataclass(frozen=True)
class LaneAfter:
    """What a run tells its lane: when the next post may start, and the channel's id."""

    next_post_at: datetime | None = None
    channel_id: str | None = None


def after_run(transaction: RawTransaction, job: ClaimedJob, after: LaneAfter,
              outcome: Outcome, now: datetime) -> None:
    """Free the job's lane and set its next slot; ready the lanes of the jobs that waited
    for it (its alert's, and those of the alerts threading under it) unless it is retried."""
    waiting: set[str] = set()
    if not isinstance(outcome, Retry) and job.alert_id is not None:
        waiting = {row.lane for row in transaction.rows(_WAITING_LANES,
                                                        {"alert_id": job.alert_id})}
    names = sorted(waiting | {job.lane})
    rows = {row.lane: row for row in transaction.rows(_lock_lanes(len(names)), _listed(names))}
    if job.lane in rows:
        values = _lane_values(rows[job.lane], job, after, outcome, now)
        ready_at = values.get("ready_at", rows[job.lane].ready_at)
        if job.lane in waiting and (ready_at is None or ready_at > now):
            values["ready_at"] = now
        if values:
            transaction.rows(lane_update(tuple(values)), dict(values, lane=job.lane))
    others = sorted(name for name in waiting - {job.lane}
                    if name in rows and (rows[name].ready_at is None or rows[name].ready_at > now))
    if others:
        transaction.rows(_ready_now(len(others)), dict(_listed(others), now=now))


def _listed(names: list[str]) -> dict[str, str]:
    return {f"lane_{index}": name for index, name in enumerate(names)}


def _named(count: int) -> list[BindParameter[str]]:
    # One statement per number of lanes (an IN list of binds): a prepared statement does
    # not expand a list at execution. Nearly always one lane, or a few.
    return [bindparam(f"lane_{index}", type_=_LANES.c.lane.type) for index in range(count)]


@functools.lru_cache(maxsize=16)
def _lock_lanes(count: int) -> Prepared:
    """The lanes, each locked, in one order: two finishing jobs never wait for each
    other's lanes (no deadlock on PostgreSQL)."""
    return Prepared(select(_LANES).where(_LANES.c.lane.in_(_named(count)))
                    .order_by(_LANES.c.lane).with_for_update())


@functools.lru_cache(maxsize=16)
def _ready_now(count: int) -> Prepared:
    return Prepared(update(_LANES).where(_LANES.c.lane.in_(_named(count)))
                    .values(ready_at=bindparam("now", type_=UtcDateTime())))


@functools.lru_cache(maxsize=32)
def lane_update(columns: tuple[str, ...]) -> Prepared:
    """Set ``columns`` of the lane named ``lane`` (binds named as the columns)."""
    return Prepared(update(_LANES).where(_LANES.c.lane == bindparam("lane"))
                    .values({column: bindparam(column, type_=_LANES.c[column].type)
                             for column in columns}))


@functools.lru_cache(maxsize=1)
def waiting_lanes_statement() -> CompoundSelect[tuple[str]]:
    """The lanes of the pending jobs of an alert and of the alerts threading under it.

    Two searches of ix_outbox_jobs_alert, one for each alert found in ix_alerts_thread
    (an IN, not a join: without statistics SQLite would start a join from the pending
    jobs). Written as one ``alert_id = ? OR alert_id IN (...)``, SQLite read every
    pending job instead, so each finish cost as much as the backlog was long.
    """
    alert_id: BindParameter[int] = bindparam("alert_id")
    own = select(_JOBS.c.lane).where(_JOBS.c.alert_id == alert_id,
                                     _JOBS.c.status == JobStatus.PENDING)
    threading = select(_JOBS.c.lane).where(
        _JOBS.c.alert_id.in_(select(_ALERTS.c.id).where(_ALERTS.c.thread_alert_id == alert_id)),
        _JOBS.c.status == JobStatus.PENDING)
    return union(own, threading)


# Run in every finish: compiled once (bot.db.prepared).
_WAITING_LANES = Prepared(waiting_lanes_statement())


def _lane_values(lane: Any, job: ClaimedJob, after: LaneAfter, outcome: Outcome,
                 now: datetime) -> dict[str, Any]:
    """How the run's end changes its lane: the hold freed, the next slot, the channel id."""
    values: dict[str, Any] = {}
    if job.holds_lane and lane.held_by == job.hold_key:
        values.update(held_by=None, held_until=None)
    if after.next_post_at is not None and after.next_post_at > lane.next_post_at:
        values["next_post_at"] = after.next_post_at
    if after.channel_id and job.kind in POSTING_KINDS and after.channel_id != lane.channel_id:
        values["channel_id"] = after.channel_id
    if isinstance(outcome, Retry):
        retry_at = now + timedelta(seconds=outcome.delay)
        if lane.ready_at is None or lane.ready_at > retry_at:
            values["ready_at"] = retry_at
    return values


def ready_lanes(session: Session, lanes: Collection[str], now: datetime) -> None:
    if lanes:
        session.execute(
            update(DeliveryLaneRow)
            .where(DeliveryLaneRow.lane.in_(sorted(lanes)),
                   or_(DeliveryLaneRow.ready_at.is_(None), DeliveryLaneRow.ready_at > now))
            .values(ready_at=now)
        )


def ready_lanes_with_pending_jobs(db: Database, now: datetime) -> int:
    """A safety net: ready every idle lane that has pending jobs (none should)."""
    with db.session() as session:
        pending = exists().where(JobRow.lane == DeliveryLaneRow.lane,
                                 JobRow.status == JobStatus.PENDING)
        return affected_rows(session.execute(
            update(DeliveryLaneRow).where(DeliveryLaneRow.ready_at.is_(None), pending)
            .values(ready_at=now)
        )) or 0
