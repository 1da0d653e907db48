"""Waking idle delivery threads when a job is queued: one thread per job, not all of them.

``threading.Event`` wakes every waiter. With N idle delivery threads, each new job then
cost N claim transactions, N-1 of them finding nothing, and on SQLite each one takes the
writer lock the webhook needs too. A job needs only one thread; a burst of jobs wakes as
many threads as there are jobs, up to all of them.
"""

from __future__ import annotations

import threading


class JobWakeup:
    def __init__(self, threads: int = 1) -> None:
        self._condition = threading.Condition()
        self._pending = 0  # wake-ups not yet taken by a thread
        self._most_pending = max(1, threads)

    def set_threads(self, threads: int) -> None:
        """How many threads wait here. Wake-ups beyond one per thread are dropped: they
        arrive while every thread is busy, and a busy thread claims again as soon as its
        job is done, so each would only cost an empty claim later."""
        with self._condition:
            self._most_pending = max(1, threads)
            self._pending = min(self._pending, self._most_pending)

    def notify_one(self) -> None:
        """A job was queued: wake one waiting thread, or the next one to wait."""
        with self._condition:
            self._pending = min(self._pending + 1, self._most_pending)
            self._condition.notify()

    def notify_all(self) -> None:
        """Wake every waiting thread (to stop)."""
        with self._condition:
            self._pending = self._most_pending
            self._condition.notify_all()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a wake-up; True if one was taken."""
        with self._condition:
            if self._pending == 0:
                self._condition.wait(timeout)
            if self._pending == 0:
                return False
            self._pending -= 1
            return True
