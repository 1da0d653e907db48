"""What a serving process runs beside its web threads: delivery (a child process of its
own, or threads) and Socket Mode.

The one place they are started and stopped (gunicorn's worker hooks, ``bot.cli``, tests).
What runs is kept here, under a key of its own on ``app.extensions``, not in
``Services``: requests only read the Socket Mode state, through ``SocketModeStatus``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Flask

from bot.delivery.runner import DeliveryWorker
from bot.metrics.counters import Metrics
from bot.process.delivery_child import DeliveryChild
from bot.slack.socket_mode import SocketModeRunner
from bot.web.services import services

log = logging.getLogger(__name__)

_KEY = "thousandeyes_bot.background"


@dataclass
class Background:
    delivery: DeliveryWorker | None = None
    delivery_child: DeliveryChild | None = None
    socket_mode: SocketModeRunner | None = None


def _background(app: Flask) -> Background:
    return app.extensions.setdefault(_KEY, Background())  # type: ignore[no-any-return]


def start_background(app: Flask) -> None:
    token_check = services(app).bot_token_check
    if token_check is not None:
        token_check.refresh()  # at start: a refused token is said at once, in one line
    start_delivery(app)
    start_socket_mode(app)


def stop_background(app: Flask) -> None:
    stop_socket_mode(app)
    stop_delivery(app)


def start_delivery(app: Flask) -> None:
    """gunicorn ``post_worker_init`` hook: a delivery process beside this web worker, or
    delivery threads beside its web threads (DELIVERY_PROCESS=inline)."""
    app_services = services(app)
    config = app_services.config
    if config.delivery_threads == 0:
        log.info("DELIVERY_THREADS=0: this process only accepts webhooks")
        return
    if config.delivers_in_child:
        child = DeliveryChild(app_services.jobs_waiting)
        child.start()
        _background(app).delivery_child = child
        return
    metrics = app_services.metrics
    worker = DeliveryWorker(config, app_services.database, wake=app_services.jobs_waiting,
                            renderer=app_services.renderer,
                            on_finished=metrics.job_finished
                            if isinstance(metrics, Metrics) else None,
                            on_pruned=metrics.rows_pruned
                            if isinstance(metrics, Metrics) else None)
    if worker.api_sync is not None and isinstance(metrics, Metrics):
        worker.api_sync.on_run = metrics.api_sync_ran
    worker.start(config.delivery_threads)
    _background(app).delivery = worker


def stop_delivery(app: Flask) -> None:
    background = _background(app)
    worker, background.delivery = background.delivery, None
    child, background.delivery_child = background.delivery_child, None
    if worker is not None:
        worker.stop()
    if child is not None:
        child.stop()


def start_socket_mode(app: Flask) -> None:
    """The websocket, when ``SLACK_APP_TOKEN`` is set and Slack's listeners exist."""
    app_services = services(app)
    token = app_services.config.slack_app_token
    if not token or app_services.bolt is None:
        return
    runner = SocketModeRunner.for_bolt(app_services.bolt, token)
    runner.start()
    _background(app).socket_mode = runner
    app_services.socket_mode.attach(lambda: runner.state)


def stop_socket_mode(app: Flask) -> None:
    app_services = services(app)
    background = _background(app)
    runner, background.socket_mode = background.socket_mode, None
    if runner is not None:
        app_services.socket_mode.detach()
        runner.stop()
