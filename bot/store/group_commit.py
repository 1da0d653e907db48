"""Group commit: the webhooks waiting at one moment are stored in one transaction.

Why: a webhook's own cost is small next to its commit (an fsync on SQLite, a WAL flush
and a round trip on PostgreSQL), and on SQLite every commit also holds the one write lock
while the committing thread competes for the GIL with every other web thread. One
committer thread per process takes whatever is waiting, writes it in one transaction and
commits once; each request thread waits for the batch that holds its event, so a 200 is
still sent only after its own event is committed.

Invariants:

- An item is answered only from the outcome of a transaction that contained it: its
  result after that transaction committed, or an error after it rolled back. Nothing
  is answered accepted that is not committed.
- Items are written in arrival order, so two events of one alert in one batch apply in
  the order they came (the second sees the first's row).
- An eventId repeated inside one batch is a duplicate of its first occurrence, answered
  only once that first one has committed.
- A batch that fails for a reason tied to its items (a value the database refuses, an
  eventId stored meanwhile by another process, a deadlock with another process) is
  retried item by item, each in its own transaction, so one bad item fails only itself.
  A batch that fails because the database is unreachable fails each of its requests
  (503, ThousandEyes retries); retrying its items one by one would only wait out the
  same timeouts again.

The committer threads (one on SQLite, a few on PostgreSQL) start with the webhooks
(never at import or app creation, so a forked worker starts its own) and end after a
while without work, so an app that is dropped (a test's) leaves no thread behind. Several committers on PostgreSQL may lock two alerts
in opposite orders; the deadlock that PostgreSQL then reports fails one batch, whose
items are stored one by one (above).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from bot.store.database import Database
from bot.store.ingest import (
    DuplicateEvent,
    IncomingEvent,
    IngestResult,
    IngestStatus,
    LaneMarks,
    store_one,
    write_event,
)

log = logging.getLogger(__name__)

MAX_BATCH = 100  # items per transaction: bounds how long one batch holds SQLite's lock
# Committer threads on PostgreSQL. SQLite has one writer at a time, so one committer; a
# PostgreSQL server runs several transactions at once, and one committer alone would
# queue every statement's round trip behind the last (measured: slower than no group
# commit at all at 64 clients). Batches form when every committer is busy.
POSTGRES_COMMITTERS = 4
IDLE_EXIT = 5.0  # seconds without work before the committer thread ends
# A request waits at most this long for its batch (gunicorn frees a worker at 25 s). If
# the batch commits later, the event is stored and ThousandEyes' retry is a duplicate.
WAIT_TIMEOUT = 20.0
# PostgreSQL: deadlock and serialization failure with another process's transaction.
_CONFLICT_CODES = frozenset({"40P01", "40001"})


class CommitTimeout(OperationalError):
    """The batch holding this event did not finish in time; the webhook answers 503."""

    def __init__(self) -> None:
        super().__init__("group commit", None, TimeoutError("batch not committed in time"))


@dataclass(eq=False)
class _Waiting:
    incoming: IncomingEvent
    done: threading.Event = field(default_factory=threading.Event)
    result: IngestResult | None = None
    error: SQLAlchemyError | None = None

    def answer(self, result: IngestResult | None = None,
               error: SQLAlchemyError | None = None) -> None:
        self.result, self.error = result, error
        self.done.set()


class GroupCommitter:
    """Stores events for many request threads, one transaction per batch waiting."""

    def __init__(self, db: Database, max_batch: int = MAX_BATCH,
                 idle_exit: float = IDLE_EXIT, wait_timeout: float = WAIT_TIMEOUT,
                 committers: int | None = None) -> None:
        self._db = db
        self._max_batch = max_batch
        self._idle_exit = idle_exit
        self._wait_timeout = wait_timeout
        self._committers = committers or (1 if db.is_sqlite else POSTGRES_COMMITTERS)
        self._queue: deque[_Waiting] = deque()
        self._wakeup = threading.Condition()
        self._running = 0  # committer threads alive
        self._idle = 0  # of which waiting for work
        self._held = False
        self.batches = 0  # transactions committed or tried, for tests and benches

    @property
    def waiting(self) -> int:
        """Events queued and not yet taken into a batch."""
        with self._wakeup:
            return len(self._queue)

    @contextmanager
    def held(self) -> Iterator[None]:
        """No batch starts until the block ends, so what arrives meanwhile is one batch.

        For tests (as an injected clock is): it makes the batch a test means to build
        happen every time, not only when the machine's timing allows.
        """
        with self._wakeup:
            self._held = True
        try:
            yield
        finally:
            with self._wakeup:
                self._held = False
                self._wakeup.notify_all()

    def store(self, incoming: IncomingEvent) -> IngestResult:
        """Store one event; returns once its batch committed, or raises as store_one does."""
        waiting = _Waiting(incoming)
        with self._wakeup:
            self._queue.append(waiting)
            if self._idle:
                self._wakeup.notify()
            elif self._running < self._committers:
                self._running += 1
                threading.Thread(target=self._run, name="group-commit", daemon=True).start()
            # else every committer is busy: the next one free takes this with the rest.
        if not waiting.done.wait(self._wait_timeout):
            log.error("event %s: its batch did not commit within %.0f s; answering 503",
                      incoming.event.event_id, self._wait_timeout)
            raise CommitTimeout()
        if waiting.error is not None:
            raise waiting.error
        assert waiting.result is not None
        return waiting.result

    def _run(self) -> None:
        while True:
            with self._wakeup:
                while self._held or not self._queue:
                    self._idle += 1
                    notified = self._wakeup.wait(self._idle_exit)
                    self._idle -= 1
                    if not notified and not self._held and not self._queue:
                        self._running -= 1
                        return
                count = min(len(self._queue), self._max_batch)
                batch = [self._queue.popleft() for _ in range(count)]
            self._commit(batch)

    def _commit(self, batch: list[_Waiting]) -> None:
        self.batches += 1
        if len(batch) == 1:
            self._store_alone(batch[0])
            return
        try:
            results = self._write_batch(batch)
        except DuplicateEvent:
            # Stored meanwhile by another process (or an earlier batch): the duplicate
            # rolls back only its own writes when it is stored alone.
            self._one_by_one(batch, "an event already stored")
            return
        except SQLAlchemyError as error:
            if _unreachable(error):
                self._fail(batch, error)
            else:  # a value refused, a trigger, a deadlock: tied to some item, not all
                self._one_by_one(batch, error.__class__.__name__)
            return
        for waiting, result in zip(batch, results):
            waiting.answer(result)

    def _write_batch(self, batch: list[_Waiting]) -> list[IngestResult]:
        results: list[IngestResult] = []
        seen: set[tuple[str, str, str]] = set()
        lanes = LaneMarks()
        with self._db.raw_transaction() as transaction:
            for waiting in batch:
                incoming = waiting.incoming
                key = (incoming.route, incoming.channel, incoming.event.event_id)
                if key in seen:
                    results.append(IngestResult(IngestStatus.DUPLICATE))
                    continue
                seen.add(key)
                results.append(write_event(transaction, incoming, lanes))
            return lanes.mark(transaction, results)

    def _one_by_one(self, batch: list[_Waiting], reason: str) -> None:
        log.info("a batch of %d events failed on %s; storing each alone", len(batch), reason)
        for waiting in batch:
            self._store_alone(waiting)

    def _store_alone(self, waiting: _Waiting) -> None:
        try:
            waiting.answer(store_one(self._db, waiting.incoming))
        except SQLAlchemyError as error:
            waiting.answer(error=error)

    @staticmethod
    def _fail(batch: list[_Waiting], error: SQLAlchemyError) -> None:
        log.error("a batch of %d events could not be stored: %s", len(batch),
                  error.__class__.__name__)
        for waiting in batch:
            waiting.answer(error=error)


def _unreachable(error: SQLAlchemyError) -> bool:
    """The database, not an item, failed: cannot connect, connection lost, timed out,
    SQLite locked for too long. A deadlock or serialization failure is not that."""
    if getattr(error, "connection_invalidated", False):
        return True
    if not isinstance(error, (OperationalError, InterfaceError)):
        return False
    code = getattr(error.orig, "sqlstate", None)
    return code not in _CONFLICT_CODES
