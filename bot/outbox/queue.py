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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Collection

from sqlalchemy import ColumnElement, Select, and_, bindparam, exists, not_, or_, select, update
from sqlalchemy.orm import Session

from bot.outbox import circuit
from bot.outbox.kinds import KINDS, NON_BLOCKING_KINDS, POSTING_KINDS, PRIORITIES, is_updates_lane
from bot.outbox.outcome import Dead, Done, Outcome, Retry
from bot.outbox.progress import JobProgress
from bot.db.database import Database
from bot.db.models import AlertRow, DeliveryLaneRow, JobRow, JobStatus, UtcDateTime

log = logging.getLogger(__name__)

OPEN_STATUSES = (JobStatus.PENDING, JobStatus.RUNNING)
# Lanes one claim looks at; more are looked at on the next claim.
_LANES_PER_CLAIM = 8
# A lane whose due jobs all wait for an earlier job of their alert in another lane is
# looked at again when that job ends, or after this long at the latest.
_BLOCKED_RECHECK = timedelta(seconds=5)


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
    data: dict[str, Any] = field(default_factory=dict)  # the job's arguments
    progress: JobProgress = field(default_factory=JobProgress)
    lane: str = ""
    created_at: datetime | None = None
    # The id Slack answered with for this lane's channel, if a post has told us.
    lane_channel_id: str | None = None
    holds_lane: bool = False  # a posting job holds its lane until it ends
    # The lane's next post slot when the job was claimed (a claim may come a moment early,
    # so the job is ready to post at the slot): its first post waits until then.
    post_at: datetime | None = None
    # An earlier attempt may have posted this job's message: its answer was lost.
    uncertain: bool = False
    # ... because the process running it died mid-post (rather than seeing a timeout or
    # a 5xx): it must look before posting, even if that means waiting for Slack.
    died_in_flight: bool = False

    @property
    def hold_key(self) -> str:
        return f"{self.worker_id}/{self.id}"


@dataclass(frozen=True)
class Claim:
    job: ClaimedJob | None
    # With no job: when a lane may have one next (None: no job is pending anywhere).
    next_due: datetime | None = None


def post_marker(job_id: int) -> str:
    """The marker a job's message carries in its metadata."""
    return f"job-{job_id}"


def claim_next(
    db: Database, worker_id: str, now: datetime, lease: timedelta, post_interval: float = 1.0,
    lookahead: timedelta = timedelta(0),
) -> Claim:
    """Claim the oldest due job of a lane that may post now (or within ``lookahead``).

    Lanes are taken in order of their next post slot, so busy lanes take turns. A job
    claimed ahead of its lane's slot renders and records its progress meanwhile, and posts
    at the slot (``ClaimedJob.post_at``): the channel's posts then follow each other at
    the interval, not at the interval plus the work of starting a job. With no
    ``post_interval`` (log-only delivery, or pacing turned off) posting jobs do not hold
    their lane and posts to one channel may overlap.
    """
    with db.session() as session:
        lanes = session.execute(_free_lanes_statement(), {"now": now, "soon": now + lookahead}).all()
        for lane in lanes:
            found = {"lane": lane.lane, "now": now}
            row = session.execute(_claimable_statement(locking=True), found).first()
            if row is not None:
                return Claim(_take(session, row, lane, worker_id, now, lease, post_interval))
            if session.execute(_claimable_statement(locking=False), found).first() is None:
                session.execute(update(_LANES).where(_LANES.c.lane == lane.lane).values(
                    ready_at=_when_lane_is_ready(session, lane.lane, now)))
            # Otherwise its job is locked by a transaction that joins it (a click merging
            # into a waiting refresh, PostgreSQL): the lane stays ready for the next claim.
        return Claim(None, _next_due(session, now))


# The claim runs for every job, so it uses Core statements on the tables, built once:
# building them, and the ORM's bookkeeping, cost more than running them.
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
               _JOBS.c.priority.in_(PRIORITIES), _JOBS.c.next_attempt_at <= _NOW,
               or_(_JOBS.c.alert_id.is_(None), not_(_earlier_job_to_wait_for())))
        .order_by(_JOBS.c.priority, _JOBS.c.next_attempt_at, _JOBS.c.id)
        .limit(1)
    )
    return statement.with_for_update(skip_locked=True, of=_JOBS) if locking else statement


def _take(session: Session, row: Any, lane: Any, worker_id: str, now: datetime,
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
    session.execute(update(_JOBS).where(_JOBS.c.id == row.id).values(
        status=JobStatus.RUNNING, locked_by=worker_id, locked_until=now + lease,
        attempts=row.attempts + 1, updated_at=now, progress=progress.to_json()))
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
        session.execute(update(_LANES).where(_LANES.c.lane == lane.lane).values(**values))
    return job


def _when_lane_is_ready(session: Session, lane: str, now: datetime) -> datetime | None:
    """Nothing claimable in ``lane`` now: when to look at it again (None: it is empty).

    That is when its next job in backoff (or otherwise not yet due) is due. Jobs due now
    wait for an earlier job of their alert: finishing that job readies the lane, and the
    lane is looked at again after ``_BLOCKED_RECHECK`` at the latest.
    """
    times = []
    # One look per priority: each is a range of the lane index, read in its order.
    for priority in PRIORITIES:
        pending = (JobRow.status == JobStatus.PENDING, JobRow.lane == lane,
                   JobRow.priority == priority)
        later = session.scalar(
            select(JobRow.next_attempt_at).where(*pending, JobRow.next_attempt_at > now)
            .order_by(JobRow.next_attempt_at).limit(1)
        )
        waiting_now = session.scalar(
            select(JobRow.id).where(*pending, JobRow.next_attempt_at <= now).limit(1)
        )
        times += [t for t in (later, now + _BLOCKED_RECHECK if waiting_now else None) if t]
    return min(times) if times else None


def next_due(db: Database, now: datetime) -> datetime | None:
    """The earliest time a claim may find a job (None: no lane has pending jobs)."""
    with db.session() as session:
        return _next_due(session, now)


def _next_due(session: Session, now: datetime) -> datetime | None:
    rows = session.execute(
        select(DeliveryLaneRow.ready_at, DeliveryLaneRow.next_post_at, DeliveryLaneRow.held_until)
        .where(DeliveryLaneRow.ready_at.is_not(None))
        .order_by(DeliveryLaneRow.ready_at).limit(500)
    ).all()
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
        or_(_JOBS.c.kind != kind, earlier.c.kind.not_in(sorted(spec.overtakes)))
        for kind, spec in KINDS.items() if spec.overtakes
    ))
    conditions = [or_(earlier.c.alert_id == _JOBS.c.alert_id,
                      earlier.c.alert_id == threads_under), earlier.c.id < _JOBS.c.id,
                  earlier.c.status.in_(OPEN_STATUSES), waits_for_its_kind]
    if NON_BLOCKING_KINDS:
        conditions.append(earlier.c.kind.not_in(sorted(NON_BLOCKING_KINDS)))
    return exists().where(*conditions)


# --- the end of a run ---------------------------------------------------------------------


@dataclass(frozen=True)
class LaneAfter:
    """What a run tells its lane: when the next post may start, and the channel's id."""

    next_post_at: datetime | None = None
    channel_id: str | None = None


@dataclass(frozen=True)
class Finished:
    recorded: bool  # False: the claim was lost, nothing was recorded
    released: int = 0  # jobs in backoff released by closing the workspace's circuit


def finish(
    db: Database, job: ClaimedJob, outcome: Outcome, now: datetime,
    lane: LaneAfter = LaneAfter(), slack_ok: bool | None = None,
    also: Callable[[Session], object] | None = None,
) -> Finished:
    """Record the outcome, free the job's lane and ready what waited for the job.

    ``slack_ok`` is what the run learnt of its workspace's Slack: True closes its circuit
    (and releases the jobs in backoff), False opens it. ``also`` writes what the run
    produced (where the parent message is) in the same transaction. Nothing is recorded
    when the claim was lost (the lease expired and another worker took the job).
    """
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
    with db.session() as session:
        if not _update_held(session, job, values):
            return Finished(False)
        if also is not None:
            also(session)
        waiting: set[str] = set()
        if not isinstance(outcome, Retry) and job.alert_id is not None:
            # Jobs of the alert that waited for this one may be claimable now, and so may
            # those of the alerts threading under it.
            threading = select(_ALERTS.c.id).where(_ALERTS.c.thread_alert_id == job.alert_id)
            waiting = set(session.scalars(select(_JOBS.c.lane).where(
                or_(_JOBS.c.alert_id == job.alert_id, _JOBS.c.alert_id.in_(threading)),
                _JOBS.c.status == JobStatus.PENDING)))
        # Every lane this touches is locked at once, in one order, so two finishing
        # jobs never wait for each other's lanes (no deadlock on PostgreSQL).
        rows = {row.lane: row for row in session.execute(
            select(_LANES).where(_LANES.c.lane.in_(sorted(waiting | {job.lane})))
            .order_by(_LANES.c.lane).with_for_update())}
        if job.lane in rows:
            values = _lane_values(rows[job.lane], job, lane, outcome, now)
            ready_at = values.get("ready_at", rows[job.lane].ready_at)
            if job.lane in waiting and (ready_at is None or ready_at > now):
                values["ready_at"] = now
            if values:
                session.execute(update(_LANES).where(_LANES.c.lane == job.lane).values(**values))
        others = sorted(name for name in waiting - {job.lane}
                        if name in rows and (rows[name].ready_at is None or rows[name].ready_at > now))
        if others:
            session.execute(update(_LANES).where(_LANES.c.lane.in_(others)).values(ready_at=now))
        closed = bool(slack_ok) and circuit.close(session, job.team_id)
        if slack_ok is False:
            circuit.note_failure(session, job.team_id, now)
    released = circuit.release_backoff(db, job.team_id, now) if closed else 0
    return Finished(True, released)


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


def save_progress(db: Database, job: ClaimedJob, now: datetime,
                  also: Callable[[Session], object] | None = None) -> bool:
    """Record ``job.progress`` (e.g. a reply's ts) so a retried job does not repeat it;
    ``also`` writes what that step did in the same transaction. Nothing is written when
    the claim was lost."""
    with db.session() as session:
        if not _update_held(session, job, dict(progress=job.progress.to_json(), updated_at=now)):
            return False
        if also is not None:
            also(session)
        return True


def _update_held(session: Session, job: ClaimedJob, values: dict[str, Any]) -> bool:
    """Update the job only while this claim still holds it.

    A worker whose lease expired must not mark done (or pending again) a job another
    worker has since claimed; ``attempts`` tells two claims by one process apart.
    """
    result = session.execute(
        update(_JOBS)
        .where(_JOBS.c.id == job.id, _JOBS.c.status == JobStatus.RUNNING,
               _JOBS.c.locked_by == job.worker_id, _JOBS.c.attempts == job.attempts)
        .values(**values)
    )
    if not result.rowcount:
        log.warning("job %d: claim lost (lease expired and another worker took it)", job.id)
        return False
    return True


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


def ready_lanes_with_pending_jobs(db: Database, now: datetime) -> int:
    """A safety net: ready every idle lane that has pending jobs (none should)."""
    with db.session() as session:
        pending = exists().where(JobRow.lane == DeliveryLaneRow.lane,
                                 JobRow.status == JobStatus.PENDING)
        return session.execute(
            update(DeliveryLaneRow).where(DeliveryLaneRow.ready_at.is_(None), pending)
            .values(ready_at=now)
        ).rowcount or 0


def list_jobs(db: Database, dead_only: bool = False, limit: int = 50) -> list[JobRow]:
    statement = select(JobRow).order_by(JobRow.id.desc()).limit(limit)
    if dead_only:
        statement = statement.where(JobRow.status == JobStatus.DEAD)
    with db.session() as session:
        return list(session.scalars(statement))
