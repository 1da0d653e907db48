"""``GET /metrics`` in Prometheus' text format, and the hook that counts webhook answers.

A scrape adds three sources: the counters of every process (this app's registry, or in
multiprocess mode the files of every process sharing ``PROMETHEUS_MULTIPROC_DIR``), the
outbox as the database shows it now (``bot.metrics_queue``), and this process's Socket
Mode connection. ``METRICS_TOKEN``, when set, is required as a Bearer token.
"""

from __future__ import annotations

import hmac
import logging
from typing import Iterable, Iterator

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from bot.clock import utcnow
from bot.delivery.kinds import KINDS
from bot.metrics import PREFIX, Metrics
from bot.metrics_queue import REPORTED_STATUSES, QueueSnapshot, read_queue
from bot.services import Services, services
from bot.store.models import WaitingFor
from bot.store.routes import DEFAULT_ROUTE
from bot.webhook_auth import split_authorization

log = logging.getLogger(__name__)

blueprint = Blueprint("metrics", __name__)

_WEBHOOK_PATH = "/webhooks/thousandeyes"


def init_app(app: Flask, app_services: Services) -> None:
    app_services.metrics = Metrics()
    app.register_blueprint(blueprint)
    app.after_request(_count_webhook)


def _count_webhook(response: Response) -> Response:
    """Every answer of the webhook routes, including refusals made before the view."""
    path = request.path
    if path.rstrip("/") == _WEBHOOK_PATH or path.startswith(_WEBHOOK_PATH + "/"):
        metrics = services(current_app).metrics
        if metrics is not None:
            metrics.webhook_answered(_route_label(response.status_code), response.status_code)
    return response


def _route_label(status: int) -> str:
    route_id = (request.view_args or {}).get("route_id")
    if route_id is None:
        return DEFAULT_ROUTE if request.path.rstrip("/") == _WEBHOOK_PATH else "unknown"
    # Ids of routes that do not exist would let anyone add series: one label for them all.
    return "unknown" if status == 404 else str(route_id)


@blueprint.route("/metrics", methods=["GET"])
def metrics_endpoint() -> Response | tuple[Response, int]:
    app_services = services(current_app)
    expected = app_services.config.metrics_token
    if expected is not None:
        scheme, token = split_authorization(request.headers.get("Authorization"))
        if scheme != "bearer" or not hmac.compare_digest(
                (token or "").encode(), expected.encode()):
            response = jsonify(error="unauthorized",
                               message="GET /metrics needs the METRICS_TOKEN as a Bearer token")
            response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response, 401
    return Response(generate_latest(scrape_registry(app_services)),
                    content_type=CONTENT_TYPE_LATEST)


def scrape_registry(app_services: Services) -> CollectorRegistry:
    """A registry for one scrape: counters of every process, plus the live state."""
    registry = CollectorRegistry(auto_describe=False)
    if app_services.config.metrics_dir:
        MultiProcessCollector(registry, path=app_services.config.metrics_dir)
    elif app_services.metrics is not None:
        registry.register(_Forward(app_services.metrics.registry))
    registry.register(_LiveState(app_services))
    return registry


class _Forward(Collector):
    """This process's counters, in the scrape's registry."""

    def __init__(self, source: CollectorRegistry) -> None:
        self._source = source

    def collect(self) -> Iterable[Metric]:
        return self._source.collect()


class _LiveState(Collector):
    """Read when scraped: the outbox from the database, Socket Mode from this process."""

    def __init__(self, app_services: Services) -> None:
        self._services = app_services

    def collect(self) -> Iterator[Metric]:
        config = self._services.config
        up = GaugeMetricFamily(PREFIX + "database_up",
                               "1 when the outbox could be read for this scrape.")
        try:
            queue = read_queue(self._services.database, utcnow(), config.delivery_stuck_after)
        except SQLAlchemyError as error:
            log.warning("metrics: cannot read the outbox (%s)", error.__class__.__name__)
            up.add_metric([], 0)
            yield up
        else:
            up.add_metric([], 1)
            yield up
            yield from _queue_families(queue)
        if config.slack_app_token:
            runner = self._services.socket_mode
            connected = GaugeMetricFamily(
                PREFIX + "socket_mode_connected",
                "1 while this process's Socket Mode websocket is connected to Slack.")
            connected.add_metric([], 1 if runner is not None and runner.state == "connected"
                                 else 0)
            yield connected


def _queue_families(queue: QueueSnapshot) -> Iterator[Metric]:
    jobs = GaugeMetricFamily(PREFIX + "jobs", "Outbox jobs now, by status (pending, running,"
                             " dead) and kind; read from the database.",
                             labels=["status", "kind"])
    for status in REPORTED_STATUSES:
        for kind in sorted(set(KINDS) | {k for s, k in queue.jobs if s == status}):
            jobs.add_metric([status, str(kind)], queue.jobs.get((status, kind), 0))
    yield jobs
    yield _gauge("jobs_due", "Pending jobs whose time has come (waiting for a thread or"
                 " their channel's turn).", queue.due)
    waiting = GaugeMetricFamily(PREFIX + "jobs_waiting", "Pending jobs held back by Slack:"
                                " Retry-After (rate_limit) or backoff after 5xx and timeouts.",
                                labels=["reason"])
    for reason in (WaitingFor.RATE_LIMIT, WaitingFor.BACKOFF):
        waiting.add_metric([reason], queue.waiting.get(reason, 0))
    yield waiting
    yield _gauge("oldest_open_job_age_seconds", "Age of the oldest pending or running job"
                 " (0 when there is none).", queue.oldest_open_age)
    yield _gauge("oldest_due_job_wait_seconds", "How long the longest-due pending job has"
                 " been due (0 when none is).", queue.oldest_due_wait)
    yield _gauge("delivery_stuck", "1 when jobs are due and no job was claimed or finished"
                 " for DELIVERY_STUCK_AFTER (what makes /healthz answer 503).",
                 1 if queue.stuck else 0)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(PREFIX + name, documentation)
    family.add_metric([], value)
    return family
