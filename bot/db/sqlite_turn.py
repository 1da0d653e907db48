"""SQLite's writer turn across the processes of one host: ``serve``'s web worker and its
delivery process, a ``worker`` beside them, a command such as ``jobs retry``.

SQLite lets one transaction write at a time. A writer that finds the database locked waits
in SQLite's busy handler, which sleeps in growing steps of up to 100 ms and is not fair: a
process whose threads take the lock one after the other keeps it, and a webhook of another
process could wait a second for a lock that was free most of that time. So every process
also takes an exclusive ``flock`` on a file beside the database (``<database>-turn``) for
each transaction: a process waiting for it sleeps in the kernel and is woken as soon as the
holder lets go, and SQLite's own lock is then free.

Within a process the threads already take turns on a lock of their own
(``Database._sqlite_writer_turn``), so at most one thread of each process waits here, and a
nested transaction of the holding thread keeps the turn until the outermost one ends. A
lock is the file's, per open file, so each process opens the file itself (a gunicorn worker
forked from a master that had opened it must not share the master's). Where the file
cannot be opened (a read-only directory) the processes fall back to SQLite's busy handler.
"""

from __future__ import annotations

import fcntl
import logging
import os

log = logging.getLogger(__name__)


class HostWriterTurn:
    """The turn of this process; enter and leave it only while holding the process's own
    writer lock (one thread at a time)."""

    def __init__(self, database_path: str) -> None:
        self._path = f"{database_path}-turn"
        self._fd: int | None = None
        self._opened_by: int | None = None  # the process that opened ``_fd``
        self._depth = 0

    def __enter__(self) -> None:
        self._depth += 1
        if self._depth == 1:
            fd = self._file()
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)

    def __exit__(self, *_exc: object) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None and self._opened_by == os.getpid():
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _file(self) -> int | None:
        if self._opened_by != os.getpid():
            if self._fd is not None:
                os.close(self._fd)  # the parent's, inherited through fork: closing is safe
            self._opened_by = os.getpid()
            try:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as error:
                self._fd = None
                log.warning("SQLite writer turn: cannot open %s (%s); processes wait in"
                            " SQLite's busy handler instead", self._path, error.strerror)
        return self._fd
