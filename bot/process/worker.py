"""``python -m bot worker``: delivery only, in a process of its own, until SIGTERM or SIGINT.

Its counts reach ``/metrics`` of a ``serve`` on this host that shares its
``PROMETHEUS_MULTIPROC_DIR``, or its own on ``METRICS_PORT`` (bot.metrics.worker_endpoint).
The same command is ``serve``'s delivery process (``bot.process.delivery_child``): then it
is told its web worker, dies with it (``bot.cli`` arranged that first thing), and is woken
by it through a pipe.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from dataclasses import dataclass
from typing import Any

from bot.config import Config
from bot.db.database import Database
from bot.delivery.runner import DeliveryWorker
from bot.metrics.counters import Metrics
from bot.metrics.worker_endpoint import WorkerMetricsServer
from bot.outbox.wakeup_pipe import relay_wakeups
from bot.slack.token_check import BotTokenCheck

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebWorker:
    """The ``serve`` web worker this process delivers for, and our pipes to it."""

    pid: int
    wakeups_fd: int  # its wake-ups, read here (bot.outbox.wakeup_pipe)
    ready_fd: int  # written once delivery runs: the web worker then starts to serve


def run_worker_forever(config: Config, database: Database,
                       web_worker: WebWorker | None = None) -> int:
    """Deliver until a signal; 1 when the metrics port cannot be served.

    ``bot.cli`` has pointed prometheus_client at its directory (bot.metrics.multiprocess)
    before this module, and so prometheus_client, was first imported.
    """
    token_check = BotTokenCheck.for_config(config) if web_worker is None else None
    if token_check is not None:  # (serve's web worker has checked it)
        token_check.refresh()  # a refused token is one line now, not a dead letter later
    metrics = Metrics()
    try:
        metrics_server = (WorkerMetricsServer(config, database, metrics)
                          if config.metrics_port and web_worker is None else None)
    except OSError as error:  # the port is taken, or not ours to bind
        log.error("cannot serve metrics on METRICS_PORT=%s: %s", config.metrics_port, error)
        return 1
    worker = DeliveryWorker(config, database, on_finished=metrics.job_finished,
                            on_pruned=metrics.rows_pruned)
    if worker.api_sync is not None:
        worker.api_sync.on_run = metrics.api_sync_ran
    stop = threading.Event()

    def _on_signal(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping after the jobs in hand", signum)
        stop.set()

    def _on_web_worker_gone() -> None:
        if not stop.is_set() and web_worker is not None:
            log.info("web worker %d has gone: stopping after the jobs in hand", web_worker.pid)
            stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    worker.start(max(1, config.delivery_threads))
    if web_worker is not None:
        relay_wakeups(web_worker.wakeups_fd, worker.wake, _on_web_worker_gone)
        with contextlib.suppress(OSError):  # it has stopped waiting
            os.write(web_worker.ready_fd, b"+")
        os.close(web_worker.ready_fd)
    if metrics_server is not None:
        metrics_server.start()
    stop.wait()
    worker.stop()
    if metrics_server is not None:
        metrics_server.stop()
    return 0
