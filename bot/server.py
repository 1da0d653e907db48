"""Run the app under gunicorn (threads), with delivery threads in each worker process."""

from __future__ import annotations

import logging
from typing import Any, Callable

from flask import Flask
from gunicorn.app.base import BaseApplication

from bot.config import Config

log = logging.getLogger(__name__)


class GunicornServer(BaseApplication):  # type: ignore[misc]
    """gunicorn configured from code, so ``python -m bot serve`` is the whole command.

    The app is built once in the master (``preload_app``) so migrations run once; each
    worker then drops the inherited database connections and starts its own delivery
    threads, because threads and sockets do not survive ``fork``.
    """

    def __init__(
        self,
        app: Flask,
        config: Config,
        host: str,
        port: int,
        on_worker_start: Callable[[Flask], Any] | None = None,
        on_worker_stop: Callable[[Flask], Any] | None = None,
    ) -> None:
        self._app = app
        self._settings = {
            "bind": f"{host}:{port}",
            "workers": config.web_concurrency,
            "worker_class": "gthread",
            "threads": config.web_threads,
            "preload_app": True,
            # Heroku's router gives up after 30 s: free a stuck worker before that.
            "timeout": 25,
            "graceful_timeout": 20,
            "keepalive": 5,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": config.log_level.lower(),
            "forwarded_allow_ips": "127.0.0.1",
        }
        self._on_worker_start = on_worker_start
        self._on_worker_stop = on_worker_stop
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._settings.items():
            self.cfg.set(key, value)
        app = self._app
        start, stop = self._on_worker_start, self._on_worker_stop

        def post_fork(_server: Any, _worker: Any) -> None:
            from bot.services import services

            services(app).database.engine.dispose(close=False)

        def post_worker_init(_worker: Any) -> None:
            if start is not None:
                start(app)

        def worker_exit(_server: Any, _worker: Any) -> None:
            if stop is not None:
                stop(app)

        self.cfg.set("post_fork", post_fork)
        self.cfg.set("post_worker_init", post_worker_init)
        self.cfg.set("worker_exit", worker_exit)

    def load(self) -> Flask:
        return self._app
