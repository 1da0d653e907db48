"""Group commit: the webhooks waiting at one moment are stored in one transaction.

Why: a webhook's own cost is small next to its commit (an fsync on SQLite, a WAL flush
and a round trip on PostgreSQL), and on SQLite every commit also holds the one write lock
while the committing thread competes for the GIL with every other web thread. So one
request thread at a time (a few on PostgreSQL) leads: it takes every event waiting,
its own among them, writes them in one transaction and commits once; each request is
answered when the batch that holds its event has committed, so a 200 is still sent only
after its own event is committed.

Invariants:

- An item is answered only from the outcome of a transaction that contained it: its
  result after that transaction committed, or an error after it rolled back. Nothing
  is answered accepted that is not committed.
- Items are written in arrival order, so two events of one alert in one batch apply in
  the order they came (the second sees the first's row).
- An event repeated inside one batch (same eventId, same body) is a duplicate of its
  first occurrence, answered only once that first one has committed.
- A batch that fails for a reason tied to its items (a value the database refuses, an
  eventId stored meanwhile by another process, a deadlock with another process) is
  retried item by item, each in its own transaction, so one bad item fails only itself.
  A batch that fails because the database is unreachable fails each of its requests
  (503, ThousandEyes retries); retrying its items one by one would only wait out the
  same timeouts again.
- At most ``committers`` batches are written at once, and while events wait one of
  them is being written or about to be: a leader that finishes hands the lead to the
  oldest waiting request.

No thread of its own: nothing starts at import or app creation, and an app that is
dropped (a test's) leaves nothing running. Several leaders on PostgreSQL may lock two
alerts in opposite orders; the deadlock that PostgreSQL then reports fails one batch,
whose items are stored one by one (above).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from bot.db.database import Database
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
# Batches written at once on PostgreSQL. SQLite has one writer at a time, so one there; a
# PostgreSQL server runs several transactions at once, and one batch at a time would
# queue every statement's round trip behind the last (measured: slower than no group
# commit at all at 64 clients). Batches form when every leader is busy.
POSTGRES_COMMITTERS = 4
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
    # Set when the event is answered, or when its thread is made leader (``promoted``).
    wakeup: threading.Event = field(default_factory=threading.Event)
    answered: bool = False
    promoted: bool = False  # made leader once (under the lock; never undone)
    led: bool = False  # the promotion was used (only its own thread touches this)
    result: IngestResult | None = None
    error: SQLAlchemyError | None = None

    def answer(self, result: IngestResult | None = None,
               error: SQLAlchemyError | None = None) -> None:
        self.result, self.error, self.answered = result, error, True
        self.wakeup.set()


class GroupCommitter:
    """Stores events for many request threads, one transaction per batch waiting.

    No thread of its own: a request that finds fewer than ``committers`` batches being
    written leads one itself; the rest queue. A leader takes everything queued (its own
    event with it), commits it, answers each, and hands the lead to the oldest request
    still queued, which takes what has queued meanwhile. So under load every commit
    carries the requests that arrived during the previous one, and a lone request is
    stored on its own thread, without waking another (a hand-off cost about 0.3 ms of CPU
    per webhook, measured in-process).
    """

    def __init__(self, db: Database, max_batch: int = MAX_BATCH,
                 wait_timeout: float = WAIT_TIMEOUT, committers: int | None = None) -> None:
        self._db = db
        self._max_batch = max_batch
        self._wait_timeout = wait_timeout
        self._committers = committers or (1 if db.is_sqlite else POSTGRES_COMMITTERS)
        self._queue: deque[_Waiting] = deque()
        self._lock = threading.Lock()
        self._leaders = 0  # batches being taken and written now
        self._held = False
        self.batches = 0  # transactions committed or tried, for tests and benches

    @property
    def waiting(self) -> int:
        """Events queued and not yet taken into a batch."""
        with self._lock:
            return len(self._queue)

    @contextmanager
    def held(self) -> Iterator[None]:
        """No batch starts until the block ends, so what arrives meanwhile is one batch.

        For tests (as an injected clock is): it makes the batch a test means to build
        happen every time, not only when the machine's timing allows.
        """
        with self._lock:
            self._held = True
        try:
            yield
        finally:
            with self._lock:
                self._held = False
                self._promote_next()

    def store(self, incoming: IncomingEvent) -> IngestResult:
        """Store one event; returns once its batch committed, or raises as store_one does."""
        waiting = _Waiting(incoming)
        with self._lock:
            self._queue.append(waiting)
            lead = not self._held and self._leaders < self._committers
            if lead:
                self._leaders += 1
        if lead:
            self._lead(waiting)
        while not waiting.answered:
            if not waiting.wakeup.wait(self._wait_timeout):
                with self._lock:
                    if not (waiting.answered or waiting.promoted):
                        self._give_up(waiting)  # raises CommitTimeout
            if waiting.promoted and not waiting.led and not waiting.answered:
                waiting.led = True
                waiting.wakeup.clear()
                self._lead(waiting)
        if waiting.promoted and not waiting.led:
            # Made leader just as another leader (PostgreSQL) took our event: pass it on.
            with self._lock:
                self._leaders -= 1
                self._promote_next()
        if waiting.error is not None:
            raise waiting.error
        assert waiting.result is not None
        return waiting.result

    def _give_up(self, waiting: _Waiting) -> None:
        """Called with the lock held, for a request whose wait ran out."""
        if waiting in self._queue:
            self._queue.remove(waiting)  # never written: nothing of it is stored
        # else it is in a batch being written: it may still commit, and ThousandEyes'
        # retry will then be answered as a duplicate.
        log.error("event %s: its batch did not commit within %.0f s; answering 503",
                  waiting.incoming.event.event_id, self._wait_timeout)
        raise CommitTimeout()

    def _lead(self, own: _Waiting) -> None:
        """Write batches until our own event is answered, then pass the lead on."""
        while True:
            with self._lock:
                if own.answered or self._held or not self._queue:
                    # Answered, or held (tests), or our event is in another leader's
                    # batch (PostgreSQL): the lead goes to whoever waits longest.
                    self._leaders -= 1
                    self._promote_next()
                    return
                count = min(len(self._queue), self._max_batch)
                batch = [self._queue.popleft() for _ in range(count)]
            self._commit(batch)

    def _promote_next(self) -> None:
        """With the lock held: let the oldest queued request lead, if a lead is free."""
        if self._held or not self._queue or self._leaders >= self._committers:
            return
        for waiting in self._queue:
            if not waiting.promoted:
                self._leaders += 1
                waiting.promoted = True
                waiting.wakeup.set()
                return

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
        for waiting, result in zip(batch, results, strict=False):
            waiting.answer(result)

    def _write_batch(self, batch: list[_Waiting]) -> list[IngestResult]:
        results: list[IngestResult] = []
        seen: set[tuple[str, str, str, str]] = set()
        lanes = LaneMarks()
        with self._db.raw_transaction() as transaction:
            for waiting in batch:
                key = waiting.incoming.dedup_key
                if key in seen:
                    results.append(IngestResult(IngestStatus.DUPLICATE))
                    continue
                seen.add(key)
                results.append(write_event(transaction, waiting.incoming, lanes))
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
