"""``python -m bot worker``: delivery only, in a process of its own, until SIGTERM or SIGINT.

Its counts reach ``/metrics`` of a ``serve`` on this host that shares its
``PROMETHEUS_MULTIPROC_DIR``, or its own on ``METRICS_PORT`` (bot.metrics.worker_endpoint).
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from bot.config import Config
from bot.db.database import Database
from bot.delivery.runner import DeliveryWorker
from bot.metrics.counters import Metrics
from bot.metrics.worker_endpoint import WorkerMetricsServer
from bot.slack.token_check import BotTokenCheck

log = logging.getLogger(__name__)


def run_worker_forever(config: Config, database: Database) -> int:
    """Deliver until a signal; 1 when the metrics port cannot be served.

    ``bot.cli`` has pointed prometheus_client at its directory (bot.metrics.multiprocess)
    before this module, and so prometheus_client, was first imported.
    """
    token_check = BotTokenCheck.for_config(config)
    if token_check is not None:
        token_check.refresh()  # a refused token is one line now, not a dead letter later
    metrics = Metrics()
    try:
        metrics_server = (WorkerMetricsServer(config, database, metrics)
                          if config.metrics_port else None)
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

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    worker.start(max(1, config.delivery_threads))
    if metrics_server is not None:
        metrics_server.start()
    stop.wait()
    worker.stop()
    if metrics_server is not None:
        metrics_server.stop()
    return 0
