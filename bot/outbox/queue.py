"""The outbox queue: claim, finish, heartbeat and dead-letter jobs in the app's database.

Claims go through delivery lanes (``DeliveryLaneRow``, one per channel jobs post to). A
claim looks only at lanes that are ready (have a job due), whose next post slot has come
and which no other post holds, then at that lane's first due job through an index: news
(a new parent) before thread notes, then the oldest. Its cost depends on the number of
lanes, not on the backlog. Taking a posting job holds its lane until the job ends, and
the job's last answer sets the lane's next slot, so every thread of every process posts
at most one message per interval per channel. A workspace's updates lane is paced by its
update budget instead (``bot.delivery.update_budget``), which owns its next slot.

Claiming is safe across threads and processes: PostgreSQL locks the lane and the job
with ``FOR UPDATE SKIP LOCKED``; SQLite runs every transaction as ``BEGIN IMMEDIATE``
(one writer at a time, see ``bot.db.database``). Jobs of one alert run in order: a
job is claimable only when no earlier job of its alert that it waits for is still open
(``bot.outbox.kinds``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, bindparam, exists, not_, or_, select, update

from bot.db.database import Database
from bot.db.models import AlertRow, DeliveryLaneRow, JobRow, JobStatus, UtcDateTime
from bot.db.prepared import Prepared, RawTransaction, inline_constants
from bot.outbox import circuit, lanes
from bot.outbox.claimed import Claim, ClaimedJob, post_marker
from bot.outbox.kinds import KINDS, NON_BLOCKING_KINDS, POSTING_KINDS, PRIORITIES, is_updates_lane
from bot.outbox.lanes import LaneAfter, lane_update, ready_lanes
from bot.outbox.outcome import Dead, Done, Outcome, Retry
from bot.outbox.progress import JobProgress

log = logging.getLogger(__name__)

T = TypeVar("T")

OPEN_STATUSES = (JobStatus.PENDING, JobStatus.RUNNING)
# Lanes one claim looks at; more are looked at on the next claim.
_LANES_PER_CLAIM = 8
# A lane whose due jobs all wait for an earlier job of their alert in another lane is
# looked at again when that job ends, or after this long at the latest.
_BLOCKED_RECHECK = timedelta(seconds=5)


def claim_next(
    db: Database, worker_id: str, now: datetime, lease: timedelta, post_interval: float = 1.0,
    lookahead: timedelta = timedelta(0),
    read: Callable[[RawTransaction, ClaimedJob], T] | None = None,
) -> Claim[T]:
    """Claim the oldest due job of a lane that may post now (or within ``lookahead``).

    Lanes are taken in order of their next post slot, so busy lanes take turns. A job
    claimed ahead of its lane's slot renders and records its progress meanwhile, and posts
    at the slot (``ClaimedJob.post_at``): the channel's posts then follow each other at
    the interval, not at the interval plus the work of starting a job. With no
    ``post_interval`` (log-only delivery, or pacing turned off) posting jobs do not hold
    their lane and posts to one channel may overlap.

    ``read`` reads what the job needs (its alert) in the claim's transaction, which saves
    the job a transaction of its own (on SQLite, a turn of the one writer); what it
    returns is ``Claim.read``. It sees what committed before the claim, as a read of its
    own right after the claim would.
    """
    with db.raw_transaction() as transaction:
        lanes = transaction.rows(_FREE_LANES, {"now": now, "soon": now + lookahead})
        for lane in lanes:
            found = {"lane": lane.lane, "now": now}
            row = transaction.first(_CLAIMABLE_LOCKED, found)
            if row is not None:
                job = _take(transaction, row, lane, worker_id, now, lease, post_interval)
                return Claim(job, read=read(transaction, job) if read is not None else None)
            if transaction.first(_CLAIMABLE, found) is None:
                transaction.rows(_LANE_READY_AT, {
                    "lane": lane.lane, "ready_at": _when_lane_is_ready(transaction, lane.lane, now)})
            # Otherwise its job is locked by a transaction that joins it (a click merging
            # into a waiting refresh, PostgreSQL): the lane stays ready for the next claim.
        return Claim(None, _next_due(transaction))


# A claim runs for every job, so its statements are compiled once and run on the driver's
# cursor (bot.db.prepared): building them, and SQLAlchemy's execution machinery, cost more
# than running them.
_JOBS = JobRow.__table__
_LANES = DeliveryLaneRow.__table__
_ALERTS = AlertRow.__table__
_NOW = bindparam("now", type_=UtcDateTime())


@functools.lru_cache(maxsize=1)
def _free_lanes_statement() -> Select[Any]:
    return (
        select(_LANES.c.lane, _LANES.c.channel_id, _LANES.c.next_post_at)
        .where(_LANES.c.ready_at <= _NOW,
               _LANES.c.next_post_at <= bindparam("soon", type_=UtcDateTime()),
               or_(_LANES.c.held_until.is_(None), _LANES.c.held_until < _NOW))
        .order_by(_LANES.c.next_post_at, _LANES.c.lane)
        .limit(_LANES_PER_CLAIM)
        .with_for_update(skip_locked=True)
    )


@functools.lru_cache(maxsize=2)
def _claimable_statement(locking: bool) -> Select[Any]:
    """The lane's first due job that waits for no earlier job of its alert: news first,
    then the oldest (the order of ix_outbox_jobs_lane, so nothing is sorted)."""
    statement = (
        select(_JOBS)
        .where(_JOBS.c.status == JobStatus.PENDING, _JOBS.c.lane == bindparam("lane"),
               _JOBS.c.priority.in_(inline_constants(PRIORITIES)), _JOBS.c.next_attempt_at <= _NOW,
               or_(_JOBS.c.alert_id.is_(None), not_(_earlier_job_to_wait_for())))
        .order_by(_JOBS.c.priority, _JOBS.c.next_attempt_at, _JOBS.c.id)
        .limit(1)
    )
    return statement.with_for_update(skip_locked=True, of=_JOBS) if locking else statement


def _take(transaction: RawTransaction, row: Any, lane: Any, worker_id: str, now: datetime,
          lease: timedelta, post_interval: float) -> ClaimedJob:
    holds = row.kind in POSTING_KINDS and post_interval > 0
    progress, uncertain, died = JobProgress.from_json(row.progress), False, False
    if row.kind in POSTING_KINDS:
        # The job may post in this attempt: say so with the claim (one commit, not two)
        # before any call is made. If the previous attempt said so and never settled its
        # answer, its message may exist.
        marker = post_marker(row.id)
        uncertain = progress.in_flight == marker
        died = uncertain and not progress.answer_lost
        since = progress.in_flight_since if uncertain else None
        progress.in_flight, progress.in_flight_since = marker, since or now.timestamp()
        progress.answer_lost = False
    transaction.rows(_TAKE_JOB, dict(
        job_id=row.id, worker_id=worker_id, locked_until=now + lease,
        attempts=row.attempts + 1, now=now, progress=progress.to_json()))
    job = ClaimedJob(
        id=row.id, kind=row.kind, alert_id=row.alert_id, event_pk=row.event_pk,
        channel=row.channel, attempts=row.attempts + 1, worker_id=worker_id,
        team_id=row.team_id, data=dict(row.data or {}), progress=progress, lane=row.lane,
        created_at=row.created_at, lane_channel_id=lane.channel_id, holds_lane=holds,
        post_at=max(lane.next_post_at, now) if holds else None, uncertain=uncertain,
        died_in_flight=died,
    )
    # Moving the slot up to now puts the lane behind the others that are waiting (turns).
    # An updates lane's slot is its workspace's update budget: only a chat.update moves it.
    values: dict[str, Any] = ({} if is_updates_lane(lane.lane)
                              else {"next_post_at": max(lane.next_post_at, now)})
    if holds:
        values.update(held_by=job.hold_key, held_until=now + lease)
    if values:
        transaction.rows(lane_update(tuple(values)), dict(values, lane=lane.lane))
    return job


def _when_lane_is_ready(transaction: RawTransaction, lane: str, now: datetime) -> datetime | None:
    """Nothing claimable in ``lane`` now: when to look at it again (None: it is empty).

    That is when its next job in backoff (or otherwise not yet due) is due. Jobs due now
    wait for an earlier job of their alert: finishing that job readies the lane, and the
    lane is looked at again after ``_BLOCKED_RECHECK`` at the latest.
    """
    times = []
    # One look per priority: each is a range of the lane index, read in its order.
    for priority in PRIORITIES:
        pending = {"lane": lane, "priority": priority, "now": now}
        later = transaction.scalar(_LATER_IN_LANE, pending)
        waiting_now = transaction.scalar(_DUE_IN_LANE, pending)
        times += [t for t in (later, now + _BLOCKED_RECHECK if waiting_now else None) if t]
    return min(times) if times else None


def _next_due(transaction: RawTransaction) -> datetime | None:
    """The earliest time a claim may find a job (None: no lane has pending jobs)."""
    rows = transaction.rows(_READY_LANES, {})
    times = [max(ready, post, held or ready) for ready, post, held in rows]
    return min(times) if times else None


def _earlier_job_to_wait_for() -> ColumnElement[bool]:
    """True while an earlier job of the same alert, of a kind this job waits for, is open;
    or of the alert its alert threads under (``alerts.thread_alert_id``, set by
    bot.store.adoption): the parent it replies to must be posted, and that alert's own
    changes to it made, before this alert's jobs run."""
    earlier = _JOBS.alias("earlier")
    threads_under = (select(_ALERTS.c.thread_alert_id)
                     .where(_ALERTS.c.id == _JOBS.c.alert_id)
                     .correlate(_JOBS).scalar_subquery())
    waits_for_its_kind = and_(*(
        or_(_JOBS.c.kind != kind, earlier.c.kind.not_in(inline_constants(sorted(spec.overtakes))))
        for kind, spec in KINDS.items() if spec.overtakes
    ))
    conditions = [or_(earlier.c.alert_id == _JOBS.c.alert_id,
                      earlier.c.alert_id == threads_under), earlier.c.id < _JOBS.c.id,
                  earlier.c.status.in_(inline_constants(OPEN_STATUSES)), waits_for_its_kind]
    if NON_BLOCKING_KINDS:
        conditions.append(earlier.c.kind.not_in(inline_constants(sorted(NON_BLOCKING_KINDS))))
    return exists().where(*conditions)


def _in_lane(column: ColumnElement[Any], due: ColumnElement[bool]) -> Select[Any]:
    """Pending jobs of one priority in a lane: a range of ix_outbox_jobs_lane."""
    return select(column).where(
        _JOBS.c.status == JobStatus.PENDING, _JOBS.c.lane == bindparam("lane"),
        _JOBS.c.priority == bindparam("priority"), due)


_FREE_LANES = Prepared(_free_lanes_statement())
_CLAIMABLE_LOCKED = Prepared(_claimable_statement(locking=True))
_CLAIMABLE = Prepared(_claimable_statement(locking=False))
_TAKE_JOB = Prepared(update(_JOBS).where(_JOBS.c.id == bindparam("job_id")).values(
    status=JobStatus.RUNNING, locked_by=bindparam("worker_id"),
    locked_until=bindparam("locked_until", type_=UtcDateTime()),
    attempts=bindparam("attempts"), updated_at=_NOW,
    progress=bindparam("progress", type_=_JOBS.c.progress.type)))
_LANE_READY_AT = lane_update(("ready_at",))
_LATER_IN_LANE = Prepared(_in_lane(_JOBS.c.next_attempt_at, _JOBS.c.next_attempt_at > _NOW)
                          .order_by(_JOBS.c.next_attempt_at).limit(1))
_DUE_IN_LANE = Prepared(_in_lane(_JOBS.c.id, _JOBS.c.next_attempt_at <= _NOW).limit(1))
_READY_LANES = Prepared(select(_LANES.c.ready_at, _LANES.c.next_post_at, _LANES.c.held_until)
                        .where(_LANES.c.ready_at.is_not(None))
                        .order_by(_LANES.c.ready_at).limit(500))


# --- the end of a run ---------------------------------------------------------------------


@dataclass(frozen=True)
class Finished:
    recorded: bool  # False: the claim was lost, nothing was recorded
    released: int = 0  # jobs in backoff released by closing the workspace's circuit


def finish(
    db: Database, job: ClaimedJob, outcome: Outcome, now: datetime,
    lane: LaneAfter = LaneAfter(), slack_ok: bool | None = None,
    also: Callable[[RawTransaction], object] | None = None,
) -> Finished:
    """Record the outcome, free the job's lane and ready what waited for the job, in one
    transaction; then release the workspace's jobs in backoff if Slack answers again.

    ``slack_ok`` is what the run learnt of its workspace's Slack: True closes its circuit
    (and releases the jobs in backoff), False opens it. ``also`` writes what the run
    produced (where the parent message is) in the same transaction. Nothing is recorded
    when the claim was lost (the lease expired and another worker took the job).
    """
    with db.raw_transaction() as transaction:
        if not _update_held(transaction, job, _outcome_values(job, outcome, now)):
            return Finished(False)
        if also is not None:
            also(transaction)
        lanes.after_run(transaction, job, lane, outcome, now)
        closed = circuit.note_slack_answer(transaction, db, job.team_id, slack_ok, now)
    released = circuit.release_backoff(db, job.team_id, now) if closed else 0
    return Finished(True, released)


def _outcome_values(job: ClaimedJob, outcome: Outcome, now: datetime) -> dict[str, Any]:
    """The job's row after the run: done, pending again at a time, or dead; unclaimed."""
    values: dict[str, Any] = dict(locked_by=None, locked_until=None, updated_at=now,
                                  progress=job.progress.to_json())
    if isinstance(outcome, Done):
        values.update(status=JobStatus.DONE, last_error=None, waiting_for=None)
    elif isinstance(outcome, Retry):
        values.update(status=JobStatus.PENDING, last_error=outcome.reason[:2000],
                      next_attempt_at=now + timedelta(seconds=outcome.delay),
                      waiting_for=outcome.waiting_for)
        if not outcome.counts:
            values["attempts"] = job.attempts - 1
    elif isinstance(outcome, Dead):
        values.update(status=JobStatus.DEAD, last_error=outcome.reason[:2000], waiting_for=None)
    return values


def save_progress(db: Database, job: ClaimedJob, now: datetime,
                  also: Callable[[RawTransaction], object] | None = None) -> bool:
    """Record ``job.progress`` (e.g. a reply's ts) so a retried job does not repeat it;
    ``also`` writes what that step did in the same transaction. Nothing is written when
    the claim was lost."""
    with db.raw_transaction() as transaction:
        if not _update_held(transaction, job, dict(progress=job.progress.to_json(),
                                                   updated_at=now)):
            return False
        if also is not None:
            also(transaction)
        return True


def _update_held(transaction: RawTransaction, job: ClaimedJob, values: dict[str, Any]) -> bool:
    """Update the job only while this claim still holds it.

    A worker whose lease expired must not mark done (or pending again) a job another
    worker has since claimed; ``attempts`` tells two claims by one process apart.
    """
    held = dict(values, job_id=job.id, held_by=job.worker_id, held_attempts=job.attempts)
    if not transaction.affected(_held_update(tuple(values)), held):
        log.warning("job %d: claim lost (lease expired and another worker took it)", job.id)
        return False
    return True


@functools.lru_cache(maxsize=16)
def _held_update(columns: tuple[str, ...]) -> Prepared:
    """Set ``columns`` of a job this claim holds (binds named as the columns); one
    statement per outcome's columns."""
    return Prepared(
        update(_JOBS)
        .where(_JOBS.c.id == bindparam("job_id"), _JOBS.c.status == JobStatus.RUNNING,
               _JOBS.c.locked_by == bindparam("held_by"),
               _JOBS.c.attempts == bindparam("held_attempts"))
        .values({column: bindparam(column, type_=_JOBS.c[column].type) for column in columns}))


def revive(db: Database, now: datetime, job_id: int | None = None) -> int:
    """Queue dead jobs again (one, or all of them); returns how many."""
    with db.session() as session:
        statement = select(JobRow).where(JobRow.status == JobStatus.DEAD)
        if job_id is not None:
            statement = statement.where(JobRow.id == job_id)
        rows = session.scalars(statement.with_for_update()).all()
        for row in rows:
            row.status, row.attempts, row.waiting_for = JobStatus.PENDING, 0, None
            # DELIVERY_MAX_AGE counts again from the retry the operator asked for.
            row.next_attempt_at, row.updated_at, row.created_at = now, now, now
        ready_lanes(session, {row.lane for row in rows}, now)
        return len(rows)


def list_jobs(db: Database, dead_only: bool = False, limit: int = 50) -> list[JobRow]:
    statement = select(JobRow).order_by(JobRow.id.desc()).limit(limit)
    if dead_only:
        statement = statement.where(JobRow.status == JobStatus.DEAD)
    with db.session() as session:
        return list(session.scalars(statement))
