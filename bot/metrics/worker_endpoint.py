"""``GET /metrics`` of a ``python -m bot worker`` (``METRICS_PORT``), for a worker on a
host of its own, whose counters no ``serve`` can read from a shared directory.

A small WSGI app on its own thread, with the same scrape and the same ``METRICS_TOKEN``
check as the web app's route (bot.metrics.export). It answers nothing but ``/metrics``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.serving import BaseWSGIServer, make_server

from bot.config import Config
from bot.db.database import Database
from bot.metrics.counters import Metrics
from bot.metrics.export import Answer, Sources, answer_scrape

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]


class WorkerMetricsServer:
    def __init__(self, config: Config, database: Database, metrics: Metrics,
                 host: str = "0.0.0.0") -> None:
        assert config.metrics_port is not None
        self._sources = Sources(config, database, metrics)
        self._server: BaseWSGIServer = make_server(host, config.metrics_port, self._wsgi,
                                                   threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()
        log.info("metrics of this worker on port %d (/metrics)", self._server.server_port)

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(5)

    def _wsgi(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics" or environ.get("REQUEST_METHOD") != "GET":
            body = json.dumps({"error": "not_found",
                               "message": "this port serves only GET /metrics"}).encode()
            answer = Answer(404, [("Content-Type", "application/json")], body)
        else:
            answer = answer_scrape(self._sources, environ.get("HTTP_AUTHORIZATION"))
        start_response(f"{answer.status} {HTTP_STATUS_CODES[answer.status]}",
                       [*answer.headers, ("Content-Length", str(len(answer.body)))])
        return [answer.body]
