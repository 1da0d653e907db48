"""Wake-ups across a process boundary: a web worker tells its delivery process
(``bot.process.delivery_child``) through a pipe that a job was queued.

Each wake-up is one 8-byte record: the ``time.monotonic()`` at which a delivery thread
should look, or 0 for now. The monotonic clock is one clock for every process of a host,
so the reader rings its :class:`JobWakeup` for the moment the writer meant, however long
the record took. A record is far smaller than ``PIPE_BUF``, so records written by many
request threads at once never interleave.

The web worker never waits for its delivery process: the write end does not block, and a
record that finds the pipe full (the reader is behind) or no reader (it has died) is
dropped. Nothing is lost with it: the delivery threads' idle poll finds any due job
within ``IDLE_POLL_SECONDS``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import threading
import time
from collections.abc import Callable

from bot.outbox.wakeup import Wakeups

log = logging.getLogger(__name__)

_RECORD = struct.Struct("=d")
_NOW = 0.0
_RECORDS_PER_READ = 512


class WakeupPipeWriter:
    """The web worker's end: its ``JobWakeup`` forwards its wake-ups here."""

    def __init__(self, fd: int, clock: Callable[[], float] = time.monotonic) -> None:
        os.set_blocking(fd, False)
        self._fd: int | None = fd
        self._clock = clock
        # A record and ``close`` take turns: a closed descriptor's number may be reused
        # at once by another file, which must never receive a record.
        self._lock = threading.Lock()

    def notify_one(self) -> None:
        self._send(_NOW)

    def notify_at(self, seconds_from_now: float) -> None:
        self._send(self._clock() + seconds_from_now if seconds_from_now > 0 else _NOW)

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, None
            if fd is not None:
                os.close(fd)

    def _send(self, due: float) -> None:
        with self._lock:
            if self._fd is None:
                return
            # The reader is behind, or gone: its idle poll covers this job.
            with contextlib.suppress(BlockingIOError, BrokenPipeError):
                os.write(self._fd, _RECORD.pack(due))


def relay_wakeups(fd: int, wake: Wakeups, on_closed: Callable[[], None],
                  clock: Callable[[], float] = time.monotonic) -> threading.Thread:
    """Read records from ``fd`` on a thread of its own and ring ``wake`` with each; call
    ``on_closed`` once no writer is left (the web worker has gone)."""

    def relay() -> None:
        pending = b""
        while True:
            try:
                data = os.read(fd, _RECORD.size * _RECORDS_PER_READ)
            except OSError as error:
                log.error("delivery wake-ups: cannot read them (%s)", error)
                data = b""
            if not data:
                os.close(fd)
                on_closed()
                return
            pending += data
            whole = len(pending) - len(pending) % _RECORD.size
            _ring(wake, [due for (due,) in _RECORD.iter_unpack(pending[:whole])], clock())
            pending = pending[whole:]

    thread = threading.Thread(target=relay, name="delivery-wakeups", daemon=True)
    thread.start()
    return thread


def _ring(wake: Wakeups, dues: list[float], now: float) -> None:
    """One wake-up per job that can start now (``wake`` drops those beyond its threads),
    and the earliest later one as the timer."""
    later = [due for due in dues if due > now]
    for _ in range(len(dues) - len(later)):
        wake.notify_one()
    if later:
        wake.notify_at(min(later) - now)
