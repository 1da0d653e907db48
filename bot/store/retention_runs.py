"""RETENTION's pruning as periodic work: one process at a time, a little at a time.

Every delivery worker (in each ``serve`` process and each ``python -m bot worker``) calls
:meth:`RetentionRuns.run_if_due` from its maintenance thread. A lease row in the database
(``maintenance_leases``) lets one of them run per ``RUN_EVERY``: the first to move the
row's ``due_at`` past now. A run works for at most ``RUN_BUDGET`` seconds, so the
maintenance thread's heartbeats are never late by more than that; a run that had more
to do hands the lease back due at once, and the next tick (any process's) goes on.

Invariants:

- the lease is taken by one conditional UPDATE (``due_at <= now``): of two processes that
  try at once, the database lets exactly one change the row;
- a run that fails (the database went away) leaves the lease as taken: the next try is
  one ``RUN_EVERY`` later, not a loop of failures.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from bot.db.database import Database
from bot.db.models import MaintenanceLeaseRow
from bot.db.results import affected_rows
from bot.store.pruning import Pruned, Retention, Seams, describe, prune

log = logging.getLogger(__name__)

LEASE_NAME = "retention"
RUN_EVERY = timedelta(minutes=10)
RUN_BUDGET = 2.0  # seconds of pruning per run
TICK_SECONDS = 15.0  # how often a worker looks whether a run is due
_EPOCH = datetime.fromisoformat("2000-01-01T00:00:00+00:00")

PrunedHook = Callable[[Mapping[str, int]], None]


def take_lease(db: Database, name: str, holder: str, now: datetime, every: timedelta) -> bool:
    """True when this caller may run ``name`` now; the next run is then due ``every``
    later, for every process."""
    insert = sqlite_insert if db.is_sqlite else postgresql_insert
    with db.session() as session:
        session.execute(insert(MaintenanceLeaseRow)
                        .values(name=name, due_at=_EPOCH, held_by=None)
                        .on_conflict_do_nothing())
        taken = session.execute(
            update(MaintenanceLeaseRow)
            .where(MaintenanceLeaseRow.name == name, MaintenanceLeaseRow.due_at <= now)
            .values(due_at=now + every, held_by=holder))
        return bool(affected_rows(taken))


def hand_back(db: Database, name: str, holder: str, due_at: datetime) -> None:
    """Make the next run due at ``due_at`` (sooner), if nobody took the lease since."""
    with db.session() as session:
        session.execute(update(MaintenanceLeaseRow)
                        .where(MaintenanceLeaseRow.name == name,
                               MaintenanceLeaseRow.held_by == holder)
                        .values(due_at=due_at))


class RetentionRuns:
    """Pruning from a delivery worker; ``run_if_due`` never raises a database error."""

    def __init__(self, db: Database, retention: Retention, holder: str, *,
                 on_pruned: PrunedHook | None = None, every: timedelta = RUN_EVERY,
                 budget: float = RUN_BUDGET, seams: Seams = Seams()) -> None:
        self.db = db
        self.retention = retention
        self.holder = holder
        self.on_pruned = on_pruned
        self.every = every
        self.budget = budget
        self.seams = seams
        self._lock = threading.Lock()

    def run_if_due(self, now: datetime) -> Pruned | None:
        """Prune for up to ``budget`` seconds if no process did for ``every``; None when
        it was not this one's turn."""
        if not self._lock.acquire(blocking=False):
            return None  # this process is pruning already
        try:
            if not take_lease(self.db, LEASE_NAME, self.holder, now, self.every):
                return None
            pruned = prune(self.db, now, self.retention, seams=self.seams,
                           deadline=time.monotonic() + self.budget)
            if not pruned.complete:
                hand_back(self.db, LEASE_NAME, self.holder, now)
            if pruned.total:
                log.info("pruned rows older than RETENTION (%s): %s", self.retention.retention,
                         describe(pruned.by_table()))
            if self.on_pruned is not None:
                self.on_pruned(pruned.by_table())
            return pruned
        except SQLAlchemyError as error:
            log.warning("pruning old rows failed (%s); trying again in %s",
                        error.__class__.__name__, self.every)
            return None
        finally:
            self._lock.release()
