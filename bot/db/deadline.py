"""A client-side deadline for PostgreSQL connections that stop answering.

Why this exists beside ``statement_timeout`` and ``connect_timeout``: when the database
stops answering while the network still acknowledges (packets dropped past a proxy or
a load balancer, a server stuck on its disk), the server never sees a timeout to apply,
and psycopg waits on the socket for ever (it was about 130 s until the kernel gave up,
then a 503). Each connection taken from the pool is given a deadline here; one thread
watches them and, when a connection is held past its deadline, shuts its socket down.
psycopg then fails at once ("server closed the connection"), SQLAlchemy drops that
connection, and the caller answers 503 as for any database error.

The socket is identified by its descriptor and inode, so a descriptor closed and reused
by another socket in the meantime is never touched.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class ConnectionDeadlines:
    """Deadlines keyed by the caller (a pool's connection record); one watcher thread."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._deadlines: dict[int, tuple[float, int, int]] = {}  # key -> (when, fd, inode)
        self._changed = threading.Condition()
        self._watcher_pid: int | None = None
        self._stopped = False

    def arm(self, key: int, fd: int, seconds: float) -> None:
        try:
            inode = os.fstat(fd).st_ino
        except OSError:
            return
        with self._changed:
            self._deadlines[key] = (self._clock() + seconds, fd, inode)
            self._ensure_watcher()
            self._changed.notify()

    def disarm(self, key: int) -> None:
        with self._changed:
            self._deadlines.pop(key, None)

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._deadlines.clear()
            self._changed.notify()

    def _ensure_watcher(self) -> None:
        # After fork the watcher thread is gone; the child starts its own.
        if self._watcher_pid == os.getpid() or self._stopped:
            return
        self._watcher_pid = os.getpid()
        threading.Thread(target=self._watch, name="db-deadlines", daemon=True).start()

    def _watch(self) -> None:
        with self._changed:
            while not self._stopped:
                now = self._clock()
                for key, (when, fd, inode) in list(self._deadlines.items()):
                    if when <= now:
                        del self._deadlines[key]
                        _cut(fd, inode)
                upcoming = min((when for when, _, _ in self._deadlines.values()), default=None)
                self._changed.wait(None if upcoming is None else max(upcoming - now, 0.01))


def _cut(fd: int, inode: int) -> None:
    try:
        if os.fstat(fd).st_ino != inode:
            return  # closed and reused since: not ours any more
        duplicate = socket.socket(fileno=os.dup(fd))
    except OSError:
        return
    try:
        duplicate.shutdown(socket.SHUT_RDWR)
        log.error("a database connection was held past its deadline with no answer;"
                  " cutting it so the request fails instead of hanging")
    except OSError:
        pass
    finally:
        duplicate.close()
