"""RETENTION: what is deleted once it is older than that, in small transactions.

Without it every webhook leaves about 3 KB behind forever (its event, its alert, its
jobs), and a small hosted database fills. What goes, once older than RETENTION:

- cleared alerts, with everything that hangs off them (their events, finished jobs and
  acknowledgements), and the storms whose alerts are all gone;
- events that belong to no alert (webhook tests, unknown events) and their finished jobs;
- finished jobs that belong to no alert or event (announcements);
- snoozes that ended (ran out or were cancelled) that long ago;
- wrong-password counts already forgotten (``bot.store.lockout.FORGET_AFTER``).

Invariants (each condition below is re-checked inside the transaction that deletes):

- an open alert and every row of it are kept, however old;
- an alert is kept while anything of it is recent: its last event, any event stored for
  it (a repeated clear is stored without moving ``last_event_at``, and its row is what
  answers ThousandEyes' retry of it as a duplicate), any job of it still pending or
  running, or finished within RETENTION;
- an alert is kept while another alert threads under it (``thread_alert_id``) or a
  snooze points at it: their replies still land in its thread;
- an alert listed in a storm goes only with the whole storm: when the storm is closed
  and every alert of it could go, so a roll-up never loses a line it still shows;
- a pending or running job is never deleted, nor an event such a job will read.

Racing a webhook: on SQLite every transaction holds the one write lock, so the webhook
runs wholly before or after a batch. On PostgreSQL a batch first locks its alerts (``FOR
UPDATE SKIP LOCKED``: an alert a webhook holds is left for next time) and then checks
the conditions again in a fresh statement, which sees every transaction committed before
the lock: from then on a webhook for that alert waits for the batch and, finding no row,
stores its event as a new alert. The webhook is never refused.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from bot.db.database import Database
from bot.db.models import (
    AcknowledgementRow,
    AlertRow,
    AlertState,
    AuthFailureRow,
    EventRow,
    JobRow,
    JobStatus,
    SnoozeRow,
    StormRow,
)
from bot.store.lockout import FORGET_AFTER

log = logging.getLogger(__name__)

BATCH_ROWS = 500  # rows of one table per transaction
# An alert takes its events, jobs and acknowledgements along (about five rows each).
ALERTS_PER_BATCH = 100
# Between two SQLite transactions the write lock is left free at least this long, and as
# long as the batch held it: a webhook of another process waiting in SQLite's busy handler
# (which looks again every 100 ms once it has waited a while) gets it first.
SQLITE_PAUSE = 0.1

# In the order the command reports them.
TABLES = ("alerts", "events", "outbox_jobs", "acknowledgements", "snoozes", "storms",
          "auth_failures")
_FINISHED = (JobStatus.DONE, JobStatus.DEAD)
_UNFINISHED = (JobStatus.PENDING, JobStatus.RUNNING)


@dataclass
class Pruned:
    """Rows deleted, by table; ``complete`` is False when time ran out with more to do."""

    rows: Counter[str] = field(default_factory=Counter)
    complete: bool = True

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    def by_table(self) -> dict[str, int]:
        return {table: self.rows.get(table, 0) for table in TABLES}


def _ignore(_ids: list[int]) -> None:
    return None


def _ignore_locked(_session: Session, _ids: list[int]) -> None:
    return None


@dataclass(frozen=True)
class Seams:
    """Where a test steps in to make a race happen in one order, not by timing.

    ``chosen``: alerts picked to go, before their transaction begins. ``locked``: inside
    that transaction (its session), the alerts that will be deleted, their rows locked.
    """

    chosen: Callable[[list[int]], None] = _ignore
    locked: Callable[[Session, list[int]], None] = _ignore_locked


@dataclass(frozen=True)
class Retention:
    """How old is old: rows older than ``retention`` go. A storm still open but quiet
    that long is closed first, as the next alert in its channel would close it."""

    retention: timedelta
    # Adoption (bot.store.adoption) threads a new alert under one cleared this recently.
    flap_window: timedelta | None = None
    storm_quiet: timedelta = timedelta(0)

    def cutoff(self, now: datetime) -> datetime:
        return now - max(self.retention, self.flap_window or timedelta(0), self.storm_quiet)


def prune(db: Database, now: datetime, retention: Retention, *, deadline: float | None = None,
          seams: Seams = Seams(), pause: Callable[[float], None] = time.sleep) -> Pruned:
    """Delete what is older than RETENTION, a batch per transaction, until nothing is
    left or ``deadline`` (``time.monotonic()``) passes."""
    cutoff = retention.cutoff(now)
    pruned = Pruned()
    steps: list[Callable[[], Counter[str]]] = [
        lambda: _close_quiet_storms(db, now, cutoff),
        lambda: _prune_ended_snoozes(db, cutoff),
        lambda: _prune_alert_batch(db, cutoff, seams),
        lambda: _prune_events_without_alert(db, cutoff),
        lambda: _prune_lone_jobs(db, cutoff),
        lambda: _prune_empty_storms(db),
        lambda: _prune_forgotten_failures(db, now),
    ]
    for step in steps:
        while True:
            if deadline is not None and time.monotonic() > deadline:
                pruned.complete = False
                return pruned
            began = time.monotonic()
            batch = step()
            pruned.rows.update(batch)
            if not any(batch.values()):
                break
            if db.is_sqlite:  # before the next batch of this table
                pause(max(SQLITE_PAUSE, time.monotonic() - began))
    return pruned


def _close_quiet_storms(db: Database, now: datetime, cutoff: datetime) -> Counter[str]:
    """A storm stays open until the next alert in its channel closes it; a channel quiet
    for RETENTION would keep its last storm (and so every alert of it) forever."""
    with db.session() as session:
        session.execute(update(StormRow)
                        .where(StormRow.open_lane.is_not(None), StormRow.last_joined_at < cutoff)
                        .values(open_lane=None, closed_at=now))
    return Counter()  # closing deletes nothing: the step runs once


def _prune_ended_snoozes(db: Database, cutoff: datetime) -> Counter[str]:
    return _delete_where(db, SnoozeRow, or_(SnoozeRow.until < cutoff,
                                            SnoozeRow.cancelled_at < cutoff))


def _delete_where(db: Database, model: type[SnoozeRow | JobRow | StormRow],
                  condition: ColumnElement[bool]) -> Counter[str]:
    """One batch of ``model``'s rows that meet ``condition`` (checked again as deleted)."""
    with db.session() as session:
        ids = list(session.scalars(select(model.id).where(condition).order_by(model.id)
                                   .limit(BATCH_ROWS)))
        if not ids:
            return Counter()
        done = session.execute(delete(model).where(model.id.in_(ids), condition))
        return Counter({model.__tablename__: _count(done)})


def _prunable_storms(cutoff: datetime) -> Select[Any]:
    """Closed storms every alert of which is cleared and old, with no job left to run."""
    member = aliased(AlertRow)
    return select(StormRow.id).where(
        StormRow.open_lane.is_(None),
        ~exists().where(member.storm_id == StormRow.id,
                        or_(member.state != AlertState.CLEARED, member.last_event_at >= cutoff)),
        ~exists().where(JobRow.alert_id == StormRow.anchor_alert_id,
                        JobRow.status.in_(_UNFINISHED)),
    )


def _alert_may_go(cutoff: datetime) -> list[ColumnElement[bool]]:
    """The conditions of the module's docstring, for one alert row."""
    child = aliased(AlertRow)
    return [
        *_alert_row_is_old(cutoff),
        ~exists().where(JobRow.alert_id == AlertRow.id,
                        or_(JobRow.status.in_(_UNFINISHED), JobRow.updated_at >= cutoff)),
        # From the alert's events to their jobs (ix_events_alert_id, ix_outbox_jobs_event),
        # not from every pending job to its event.
        ~exists().where(EventRow.alert_id == AlertRow.id,
                        exists().where(JobRow.event_pk == EventRow.id,
                                       JobRow.status.in_(_UNFINISHED)).correlate(EventRow)
                        ).correlate(AlertRow),
        ~exists().where(EventRow.alert_id == AlertRow.id, EventRow.received_at >= cutoff),
        ~exists().where(child.thread_alert_id == AlertRow.id),
        ~exists().where(SnoozeRow.alert_id == AlertRow.id),
        or_(AlertRow.storm_id.is_(None), AlertRow.storm_id.in_(_prunable_storms(cutoff))),
    ]


def _alert_row_is_old(cutoff: datetime) -> list[ColumnElement[bool]]:
    # A cleared alert has no stale mark (every event clears it, and only open alerts are
    # marked), and saying so lets the query read ix_alerts_stale_sweep's range.
    return [AlertRow.state == AlertState.CLEARED, AlertRow.stale_at.is_(None),
            AlertRow.last_event_at < cutoff]


def _prune_alert_batch(db: Database, cutoff: datetime, seams: Seams) -> Counter[str]:
    with db.session() as session:
        # No ORDER BY: the first alerts found (oldest first, from the index) will do, and
        # the scan stops there instead of checking every old alert before sorting.
        chosen = list(session.scalars(select(AlertRow.id).where(*_alert_may_go(cutoff))
                                      .limit(ALERTS_PER_BATCH)))
    if not chosen:
        return Counter()
    seams.chosen(chosen)
    with db.session() as session:
        ids = _lock_alerts_that_may_go(db, session, chosen, cutoff)
        seams.locked(session, ids)
        if not ids:
            # All taken back by webhooks since they were chosen: the next run looks again.
            return Counter()
        return _delete_alerts(session, ids)


def _lock_alerts_that_may_go(db: Database, session: Session, chosen: list[int],
                             cutoff: datetime) -> list[int]:
    if not db.is_sqlite:
        # Lock first, on the row's own columns (re-read as committed when a webhook
        # held the row), then check the rest in a statement that sees every commit up to
        # now: nothing can point at a locked alert any more without waiting for us.
        chosen = list(session.scalars(
            select(AlertRow.id).where(AlertRow.id.in_(chosen), *_alert_row_is_old(cutoff))
            .with_for_update(skip_locked=True)))
        if not chosen:
            return []
    return list(session.scalars(select(AlertRow.id)
                                .where(AlertRow.id.in_(chosen), *_alert_may_go(cutoff))
                                .order_by(AlertRow.id)))


def _delete_alerts(session: Session, ids: list[int]) -> Counter[str]:
    events = select(EventRow.id).where(EventRow.alert_id.in_(ids))
    pruned: Counter[str] = Counter()
    # Two statements, each read from its index: an OR of the two would scan the table.
    # (A storm's notes job is its anchor's, but it points at the cleared alert's event.)
    pruned["outbox_jobs"] = _count(session.execute(
        delete(JobRow).where(JobRow.alert_id.in_(ids), JobRow.status.in_(_FINISHED))))
    pruned["outbox_jobs"] += _count(session.execute(
        delete(JobRow).where(JobRow.event_pk.in_(events), JobRow.status.in_(_FINISHED))))
    pruned["acknowledgements"] = _count(session.execute(
        delete(AcknowledgementRow).where(AcknowledgementRow.alert_id.in_(ids))))
    pruned["events"] = _count(session.execute(delete(EventRow).where(EventRow.alert_id.in_(ids))))
    pruned["alerts"] = _count(session.execute(delete(AlertRow).where(AlertRow.id.in_(ids))))
    return pruned


def _prune_events_without_alert(db: Database, cutoff: datetime) -> Counter[str]:
    """Webhook tests and unknown events: read from ``ix_events_alert_id``'s NULL range."""
    may_go = and_(
        EventRow.alert_id.is_(None), EventRow.received_at < cutoff,
        ~exists().where(JobRow.event_pk == EventRow.id,
                        or_(JobRow.status.in_(_UNFINISHED), JobRow.updated_at >= cutoff)))
    with db.session() as session:
        ids = list(session.scalars(select(EventRow.id).where(may_go).order_by(EventRow.id)
                                   .limit(BATCH_ROWS).with_for_update(skip_locked=True)))
        if not ids:
            return Counter()
        ids = list(session.scalars(select(EventRow.id).where(EventRow.id.in_(ids), may_go)))
        jobs = _count(session.execute(delete(JobRow).where(JobRow.event_pk.in_(ids),
                                                           JobRow.status.in_(_FINISHED))))
        events = _count(session.execute(delete(EventRow).where(EventRow.id.in_(ids))))
        return Counter(events=events, outbox_jobs=jobs)


def _prune_lone_jobs(db: Database, cutoff: datetime) -> Counter[str]:
    """Finished jobs of no alert and no event (announcements)."""
    return _delete_where(db, JobRow, and_(JobRow.alert_id.is_(None), JobRow.event_pk.is_(None),
                                          JobRow.status.in_(_FINISHED),
                                          JobRow.updated_at < cutoff))


def _prune_empty_storms(db: Database) -> Counter[str]:
    """Closed storms whose alerts are all gone (they went together: see above)."""
    return _delete_where(db, StormRow, and_(StormRow.open_lane.is_(None),
                                            ~exists().where(AlertRow.storm_id == StormRow.id)))


def _prune_forgotten_failures(db: Database, now: datetime) -> Counter[str]:
    """Wrong guesses the lockout no longer counts: a guesser rotating addresses would
    otherwise add a row per address forever."""
    forgotten = and_(AuthFailureRow.last_failure_at < now - FORGET_AFTER,
                     AuthFailureRow.locked_until < now)
    with db.session() as session:
        keys = session.execute(select(AuthFailureRow.scope, AuthFailureRow.client_key)
                               .where(forgotten).limit(BATCH_ROWS)).all()
        deleted = 0
        for scope, key in keys:
            deleted += _count(session.execute(delete(AuthFailureRow).where(
                AuthFailureRow.scope == scope, AuthFailureRow.client_key == key, forgotten)))
        return Counter(auth_failures=deleted)


def _count(result: Any) -> int:
    return int(result.rowcount or 0)


def describe(pruned: Mapping[str, int]) -> str:
    """``12 alerts, 30 events, …``: the tables that lost rows (or "nothing")."""
    parts = [f"{count} {table}" for table, count in pruned.items() if count]
    return ", ".join(parts) or "nothing"
