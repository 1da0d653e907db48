"""``GET /metrics`` in Prometheus' text format, and the hook that counts webhook answers.

A scrape (bot.metrics.export) adds three sources: the counters of every process (this
app's registry, or in multiprocess mode the files of every process sharing
``PROMETHEUS_MULTIPROC_DIR``), the outbox as the database shows it now
(``bot.outbox.snapshot``), and this process's Socket Mode connection. ``METRICS_TOKEN``,
when set, is required as a Bearer token.
"""

from __future__ import annotations

import logging
from functools import partial

from flask import Flask, Response, current_app, request

from bot.metrics.counters import Metrics
from bot.metrics.export import Sources, answer_scrape
from bot.store.routes import DEFAULT_ROUTE
from bot.web.services import services

log = logging.getLogger(__name__)

_WEBHOOK_PATH = "/webhooks/thousandeyes"


def init_app(app: Flask, metrics: Metrics) -> None:
    """``GET /metrics``, and the count of every webhook answer, both of ``metrics``."""
    app.add_url_rule("/metrics", "metrics.metrics_endpoint", partial(_scrape, metrics),
                     methods=["GET"])
    app.after_request(partial(_count_webhook, metrics))


def _count_webhook(metrics: Metrics, response: Response) -> Response:
    """Every answer of the webhook routes, including refusals made before the view."""
    path = request.path
    if path.rstrip("/") == _WEBHOOK_PATH or path.startswith(_WEBHOOK_PATH + "/"):
        metrics.webhook_answered(_route_label(response.status_code), response.status_code)
    return response


def _route_label(status: int) -> str:
    route_id = (request.view_args or {}).get("route_id")
    if route_id is None:
        return DEFAULT_ROUTE if request.path.rstrip("/") == _WEBHOOK_PATH else "unknown"
    # Ids of routes that do not exist would let anyone add series: one label for them all
    # (a guesser made to wait gets 429 before its route id is looked up).
    return "unknown" if status in (404, 429) else str(route_id)


def _scrape(metrics: Metrics) -> Response:
    app_services = services(current_app)
    status = app_services.socket_mode
    sources = Sources(app_services.config, app_services.database, metrics,
                      lambda: status.state)
    answer = answer_scrape(sources, request.headers.get("Authorization"))
    return Response(answer.body, status=answer.status, headers=answer.headers)
