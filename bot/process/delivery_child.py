"""``serve``'s delivery in a process of its own beside each web worker (DELIVERY_PROCESS=child).

Delivery costs CPU per job, and threads beside the web threads take turns with them on
one interpreter lock, so webhooks waited while messages were rendered and posted. Here
each web worker starts ``python -m bot worker`` as its child: the same code as a worker
dyno, with the same environment, working directory and so settings, and its log lines on
the same stderr. The child is told its parent, so that it dies with it
(``bot.process.parent_death``), does not apply migrations (``serve`` has) and does not
repeat what ``serve`` said at start (setup warnings, the bot token check).

``start`` returns once the child delivers (or after ``READY_SECONDS``), so a web worker
that answers has its delivery running, as when delivery was threads of its own. The web
worker wakes the child through a pipe when a webhook or a click queues a job
(``bot.outbox.wakeup_pipe``): ``Services.jobs_waiting`` forwards to it while it runs. A
child that ends while the web worker is not stopping is started again, after 1 s and then
twice as long each time up to a minute (a minute's run starts the count again), with one
log line each time. ``stop`` sends SIGTERM, so the child finishes the jobs in hand, and
kills it if it has not ended within ``STOP_SECONDS``.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time

from bot.outbox.wakeup import JobWakeup
from bot.outbox.wakeup_pipe import WakeupPipeWriter

log = logging.getLogger(__name__)

FIRST_RESTART_DELAY = 1.0
LONGEST_RESTART_DELAY = 60.0
# A child that ran this long before it ended was not failing at start.
STEADY_RUN_SECONDS = 60.0
# The delivery worker gives its threads 15 s to finish their jobs (DeliveryWorker.stop);
# gunicorn kills a worker 20 s after asking it to stop, and the child then dies with it.
STOP_SECONDS = 17.0
# gunicorn kills a booting worker that has not checked in within its timeout (25 s, from
# its fork: building the app takes some of it). A child slower than this to start delivers
# once it has started; the web worker does not wait for it.
READY_SECONDS = 10.0


class DeliveryChild:
    """One delivery process for this web worker, kept running until ``stop``."""

    def __init__(self, jobs_waiting: JobWakeup, stop_seconds: float = STOP_SECONDS) -> None:
        self._jobs_waiting = jobs_waiting
        self._stop_seconds = stop_seconds
        self._stopping = threading.Event()
        self._first_start = threading.Event()  # the first child delivers, or failed to
        self._lock = threading.Lock()  # a child is started, or stop is under way: not both
        self._process: subprocess.Popen[bytes] | None = None
        # The thread that starts the children: on Linux a child dies with the thread that
        # started it (PR_SET_PDEATHSIG), so it is this one, which outlives each child.
        self._thread = threading.Thread(target=self._keep_running, name="delivery-process",
                                        daemon=True)

    def start(self) -> None:
        """Start the child; return once it delivers (or has failed to start)."""
        self._thread.start()
        self._first_start.wait()

    def stop(self) -> None:
        """SIGTERM to the child; SIGKILL when it has not ended within ``stop_seconds``."""
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
        self._thread.join(self._stop_seconds)
        if self._thread.is_alive() and process is not None:
            log.warning("delivery process %d did not stop within %.0fs; killing it",
                        process.pid, self._stop_seconds)
            process.kill()
            self._thread.join()

    def _keep_running(self) -> None:
        delay = FIRST_RESTART_DELAY
        while True:
            with self._lock:
                if self._stopping.is_set():
                    return
                started = self._start_child()
            if started is None:
                self._first_start.set()
                ended, level, ran = "the delivery process could not be started", logging.ERROR, 0.0
            else:
                process, pipe, ready = started
                began = time.monotonic()
                self._wait_ready(process, ready)
                code = process.wait()
                ran = time.monotonic() - began
                self._jobs_waiting.forward_to(None)
                pipe.close()
                if self._stopping.is_set():
                    return
                ended = f"delivery process {process.pid} ended ({_why(code)})"
                # 0: it stopped when asked to. Heroku and systemd ask every process of the
                # service at once, and Ctrl-C its whole group: the web worker stops next.
                level = logging.INFO if code == 0 else logging.ERROR
            if ran >= STEADY_RUN_SECONDS:
                delay = FIRST_RESTART_DELAY
            log.log(level, "%s; starting it again in %.0fs", ended, delay)
            if self._stopping.wait(delay):
                return
            delay = min(2 * delay, LONGEST_RESTART_DELAY)

    def _start_child(self) -> tuple[subprocess.Popen[bytes], WakeupPipeWriter, int] | None:
        """The child, the pipe that wakes it, and the pipe it says it delivers by."""
        wakeups, wake = os.pipe()
        ready, says_ready = os.pipe()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "bot", "worker", "--child-of", str(os.getpid()),
                 "--wakeups-fd", str(wakeups), "--ready-fd", str(says_ready)],
                pass_fds=(wakeups, says_ready))
        except OSError as error:
            os.close(wake)
            os.close(ready)
            log.error("delivery process: %s", error)
            return None
        finally:
            # The child's ends are the child's: ours would keep each pipe open after it died.
            os.close(wakeups)
            os.close(says_ready)
        pipe = WakeupPipeWriter(wake)
        self._process = process
        self._jobs_waiting.forward_to(pipe)
        log.info("delivery runs in process %d, a child of this web worker", process.pid)
        return process, pipe, ready

    def _wait_ready(self, process: subprocess.Popen[bytes], ready: int) -> None:
        """Until the child says it delivers, or it ends, or ``READY_SECONDS`` pass."""
        try:
            said, _, _ = select.select([ready], [], [], READY_SECONDS)
            if not said:
                log.warning("delivery process %d has not started delivering within %.0fs",
                            process.pid, READY_SECONDS)
            else:
                os.read(ready, 1)  # b"" when it ended first: it is then started again
        finally:
            os.close(ready)
            self._first_start.set()


def _why(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
