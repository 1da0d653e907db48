"""A delivery process that dies with the web worker that started it.

``serve`` (``bot.process.delivery_child``) starts its delivery process as a child of each
web worker. Were that worker killed (``kill -9``, gunicorn's timeout, the OOM killer), a
child left running would go on delivering beside the worker gunicorn starts in its place
and beside a restarted ``serve``. On Linux the kernel kills the child with SIGKILL when
its parent dies (``PR_SET_PDEATHSIG``), so a crash of the worker is a crash of its
delivery too: the jobs it held are taken over by the next start on this host
(``bot.outbox.leases.release_orphans``), exactly as when delivery threads ran inside the
worker. The signal is asked for once the child runs, so a parent that died before that is
seen by its pid: a child whose parent is not the one that started it exits at once.
Elsewhere, the child stops after the jobs in hand when the wake-up pipe from its parent
closes (``bot.outbox.wakeup_pipe``), which the kernel does when the parent dies.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent_pid: int) -> bool:
    """Be killed when ``parent_pid`` dies (Linux); False when it has died already."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            log.warning("cannot ask to die with the web worker (prctl: %s); this process"
                        " stops when its wake-up pipe closes",
                        os.strerror(ctypes.get_errno()))
    # Asked after the fork: a parent that died before is not watched, but it is not
    # our parent any more either (we were handed to init or a subreaper).
    return os.getppid() == parent_pid
