"""STALE_AFTER: open alerts with no news from ThousandEyes for that long.

ThousandEyes sends a clear only when the alert rule asks for one, so an alert can stay
open in Slack long after anyone cares. The sweep marks an open alert whose last event
is older than STALE_AFTER and queues a refresh of its parent, which then says "no news
from ThousandEyes since …"; the alert stays open and acknowledgeable, and its next
event (a late clear, a re-trigger) ends the stale state and threads as usual.

Why a sweep, not a refresh queued for later: jobs of one alert run in order, so a
refresh due in 24 hours would hold that alert's clear back for 24 hours. The refresh the
sweep queues is due at once, in the same transaction that marks the alert.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from bot.db.database import Database
from bot.db.models import AlertRow, AlertState
from bot.outbox.enqueue import enqueue_parent_refresh

log = logging.getLogger(__name__)

BATCH = 100  # alerts marked per transaction: a long backlog never holds one lock long
MAX_SWEEP_INTERVAL = timedelta(minutes=1)


def mark_stale_alerts(db: Database, now: datetime, stale_after: timedelta,
                      limit: int = BATCH) -> int:
    """Mark up to ``limit`` open alerts silent for ``stale_after``; returns how many.

    The UPDATE re-checks every condition row by row, so an event committed meanwhile
    (which moves ``last_event_at`` and clears ``stale_at``) wins: the alert is not marked.
    """
    cutoff = now - stale_after
    with db.session() as session:
        candidates = list(session.scalars(
            select(AlertRow.id)
            .where(AlertRow.state == AlertState.TRIGGERED, AlertRow.stale_at.is_(None),
                   AlertRow.last_event_at < cutoff)
            .order_by(AlertRow.last_event_at)
            .limit(limit)
        ))
        if not candidates:
            return 0
        marked = session.execute(
            update(AlertRow)
            .where(AlertRow.id.in_(candidates), AlertRow.state == AlertState.TRIGGERED,
                   AlertRow.stale_at.is_(None), AlertRow.last_event_at < cutoff)
            .values(stale_at=now)
            .returning(AlertRow.id, AlertRow.channel, AlertRow.slack_team, AlertRow.slack_ts)
        ).all()
        for alert_id, channel, team_id, parent_ts in marked:
            # Without a parent yet, the pending trigger job posts the stale state itself.
            if parent_ts:
                enqueue_parent_refresh(session, alert_id=alert_id, channel=channel, now=now,
                                       team_id=team_id)
    if marked:
        log.info("%d open alert(s) had no news from ThousandEyes for %s; marked stale",
                 len(marked), stale_after)
    return len(marked)


class StaleSweep:
    """Runs :func:`mark_stale_alerts` every so often from the delivery worker's threads.

    ``run_if_due`` is cheap when not due (one comparison), runs in one thread at a time,
    and never raises a database error into the worker: the next sweep tries again.
    """

    def __init__(self, db: Database, stale_after: timedelta) -> None:
        self.db = db
        self.stale_after = stale_after
        self.interval = min(MAX_SWEEP_INTERVAL, stale_after / 10)
        self._next: datetime | None = None
        self._lock = threading.Lock()

    def run_if_due(self, now: datetime) -> int:
        if self._next is not None and now < self._next:
            return 0
        if not self._lock.acquire(blocking=False):
            return 0  # another thread is sweeping
        try:
            self._next = now + self.interval
            marked = 0
            while True:
                batch = mark_stale_alerts(self.db, now, self.stale_after)
                marked += batch
                if batch < BATCH:
                    return marked
        except SQLAlchemyError as error:
            log.warning("stale-alert sweep failed (%s); trying again in %s",
                        error.__class__.__name__, self.interval)
            return 0
        finally:
            self._lock.release()
