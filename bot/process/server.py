"""Run the app under gunicorn, with delivery threads in each worker process.

gunicorn's asyncio worker reads the connections; ``bot.web.buffering`` hands each complete
request to the Flask app on one of ``WEB_THREADS`` threads. (Its threaded worker let a
thread read the body, so clients that stalled held the threads.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gunicorn.app.base import BaseApplication

from bot.config import Config
from bot.metrics.logformat import gunicorn_logger_class
from bot.web.body_limits import body_limit
from bot.web.buffering import BufferedRequests

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)


class GunicornServer(BaseApplication):  # type: ignore[misc]
    """gunicorn configured from code, so ``python -m bot serve`` is the whole command.

    Migrations have been applied before this starts (``bot.cli.main``), so building the app is
    quick wherever it happens. With one worker (the default) the master never builds the
    app: the worker does, so the service holds one copy of it in memory, not a master's
    copy beside a worker's that drifts apart page by page as reference counts change.
    With several workers the app is built once in the master (``preload_app``) and
    shared; each worker then drops the inherited database connections, because sockets
    do not survive ``fork``. Either way each worker starts its own delivery threads
    after it has the app.
    """

    def __init__(
        self,
        build_app: Callable[[], Flask],
        config: Config,
        host: str,
        port: int,
        on_worker_start: Callable[[Flask], Any] | None = None,
        on_worker_stop: Callable[[Flask], Any] | None = None,
    ) -> None:
        self._build_app = build_app
        self._app: Flask | None = None
        self._served: BufferedRequests | None = None
        self._config = config
        self._settings = {
            "bind": f"{host}:{port}",
            "workers": config.web_concurrency,
            # Threads are ours (bot.web.buffering), not gunicorn's: its asyncio worker has none.
            "worker_class": "asgi",
            "threads": 1,
            "asgi_lifespan": "off",
            "preload_app": config.web_concurrency > 1,
            # Heroku's router gives up after 30 s: free a stuck worker before that.
            "timeout": 25,
            "graceful_timeout": 20,
            "keepalive": 5,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": config.log_level.lower(),
            "forwarded_allow_ips": "127.0.0.1",
            # One fixed path per machine (~/.gunicorn/gunicorn.ctl) that every instance
            # would claim; nothing here uses gunicornc.
            "control_socket_disable": True,
        }
        self._on_worker_start = on_worker_start
        self._on_worker_stop = on_worker_stop
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._settings.items():
            self.cfg.set(key, value)
        logger_class = gunicorn_logger_class(self._config.log_format)
        if logger_class is not None:
            self.cfg.set("logger_class", logger_class)
        start, stop = self._on_worker_start, self._on_worker_stop

        def post_fork(_server: Any, _worker: Any) -> None:
            if self._app is not None:  # preloaded: the master's connections are not ours
                from bot.web.services import services  # a master without the app never loads Flask

                services(self._app).database.engine.dispose(close=False)

        def post_worker_init(_worker: Any) -> None:
            if start is not None:
                self.load()
                start(self._flask())

        def worker_exit(_server: Any, _worker: Any) -> None:
            if stop is not None and self._app is not None:
                stop(self._app)

        self.cfg.set("post_fork", post_fork)
        self.cfg.set("post_worker_init", post_worker_init)
        self.cfg.set("worker_exit", worker_exit)

    def load(self) -> BufferedRequests:
        if self._served is None:
            flask_app = self._flask()
            config = self._config
            self._served = BufferedRequests(
                flask_app, config.web_threads,
                lambda path: body_limit(path, config.webhook_max_body_bytes))
        return self._served

    def _flask(self) -> Flask:
        if self._app is None:
            self._app = self._build_app()
        return self._app
