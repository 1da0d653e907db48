"""Waking idle delivery threads when a job can be claimed, and only then.

Threads sleep until the earliest time a job may be due (a timer the threads share) or
until a wake-up says a job can start now. A webhook whose job waits for its channel's
next post slot sets the timer instead of waking a thread: during a storm nothing is
claimable between slots, and an empty claim per webhook cost CPU and, on SQLite, the
writer lock the webhooks need. A job needs only one thread; a burst of jobs wakes as many
threads as there are jobs, up to all of them, and a timer wakes one.

When the delivery threads run in another process (``serve``'s delivery process), the web
worker's wake-ups are forwarded to it (``forward_to``, ``bot.outbox.wakeup_pipe``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class Wakeups(Protocol):
    """Where a queued job is told: a :class:`JobWakeup`, or the pipe to another process."""

    def notify_one(self) -> None: ...

    def notify_at(self, seconds_from_now: float) -> None: ...


class JobWakeup:
    def __init__(self, threads: int = 1, clock: Callable[[], float] = time.monotonic) -> None:
        self._condition = threading.Condition()
        self._clock = clock
        self._pending = 0  # wake-ups not yet taken by a thread
        self._most_pending = max(1, threads)
        self._due_at: float | None = None  # monotonic time the timer rings
        self._forward: Wakeups | None = None

    def forward_to(self, other: Wakeups | None) -> None:
        """Tell ``other`` of every job this is told of (None: stop): the threads that
        deliver are in another process, which ``other`` reaches."""
        self._forward = other

    def set_threads(self, threads: int) -> None:
        """How many threads wait here. Wake-ups beyond one per thread are dropped: they
        arrive while every thread is busy, and a busy thread claims again as soon as its
        job is done, so each would only cost an empty claim later."""
        with self._condition:
            self._most_pending = max(1, threads)
            self._pending = min(self._pending, self._most_pending)

    def notify_one(self) -> None:
        """A job can start now: wake one waiting thread, or the next one to wait."""
        with self._condition:
            self._pending = min(self._pending + 1, self._most_pending)
            self._condition.notify()
        forward = self._forward
        if forward is not None:
            forward.notify_one()

    def notify_at(self, seconds_from_now: float) -> None:
        """A job may become claimable in ``seconds_from_now``: ring the timer by then."""
        if seconds_from_now <= 0:
            self.notify_one()
            return
        at = self._clock() + seconds_from_now
        with self._condition:
            if self._due_at is None or at < self._due_at:
                self._due_at = at
                self._condition.notify()  # a waiting thread shortens its sleep
        forward = self._forward
        if forward is not None:
            forward.notify_at(seconds_from_now)

    def notify_all(self) -> None:
        """Wake every waiting thread (to stop)."""
        with self._condition:
            self._pending = self._most_pending
            self._condition.notify_all()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a wake-up or the timer; True if one was taken."""
        deadline = self._clock() + timeout
        with self._condition:
            while True:
                now = self._clock()
                if self._pending:
                    self._pending -= 1
                    return True
                if self._due_at is not None and self._due_at <= now:
                    self._due_at = None
                    return True
                if now >= deadline:
                    return False
                until = deadline if self._due_at is None else min(deadline, self._due_at)
                self._condition.wait(until - now)
