"""One scrape: the counters of every process, the outbox read from the database, and
this process's Socket Mode state, as Prometheus text. Used by ``GET /metrics`` of the web
app (bot.metrics.http) and by the metrics port of ``python -m bot worker``
(bot.metrics.worker_endpoint); both require ``METRICS_TOKEN`` when it is set.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from bot.clock import utcnow
from bot.config import Config
from bot.db.database import Database
from bot.db.models import WaitingFor
from bot.metrics.counters import PREFIX, Metrics
from bot.outbox.kinds import KINDS
from bot.outbox.snapshot import REPORTED_STATUSES, QueueSnapshot, read_queue
from bot.web.webhook_auth import split_authorization

log = logging.getLogger(__name__)

UNAUTHORIZED = "GET /metrics needs the METRICS_TOKEN as a Bearer token"


@dataclass(frozen=True)
class Sources:
    config: Config
    database: Database
    metrics: Metrics | None
    # This process's Socket Mode state (connecting, connected, disconnected); None: none.
    socket_mode: Callable[[], str | None] = lambda: None


def authorized(config: Config, header: str | None) -> bool:
    """Whether a scrape may read: no METRICS_TOKEN, or it as a Bearer token."""
    if config.metrics_token is None:
        return True
    scheme, token = split_authorization(header)
    return scheme == "bearer" and hmac.compare_digest(token.encode(),
                                                      config.metrics_token.encode())


@dataclass(frozen=True)
class Answer:
    """What a scrape is answered, whichever server carries it (Flask, the worker's port)."""
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def answer_scrape(sources: Sources, authorization: str | None) -> Answer:
    """The one answer to ``GET /metrics``: 401 JSON without the token, else the text."""
    if not authorized(sources.config, authorization):
        body = json.dumps({"error": "unauthorized", "message": UNAUTHORIZED}).encode()
        return Answer(401, [("Content-Type", "application/json"),
                            ("WWW-Authenticate", 'Bearer realm="metrics"')], body)
    return Answer(200, [("Content-Type", CONTENT_TYPE_LATEST)],
                  generate_latest(scrape_registry(sources)))


def scrape_registry(sources: Sources) -> CollectorRegistry:
    """A registry for one scrape: counters of every process, plus the live state."""
    registry = CollectorRegistry(auto_describe=False)
    if sources.config.metrics_dir:
        MultiProcessCollector(registry, path=sources.config.metrics_dir)
    elif sources.metrics is not None:
        registry.register(_Forward(sources.metrics.registry))
    registry.register(_LiveState(sources))
    return registry


class _Forward(Collector):
    """This process's counters, in the scrape's registry."""

    def __init__(self, source: CollectorRegistry) -> None:
        self._source = source

    def collect(self) -> Iterable[Metric]:
        return self._source.collect()


class _LiveState(Collector):
    """Read when scraped: the outbox from the database, Socket Mode from this process."""

    def __init__(self, sources: Sources) -> None:
        self._sources = sources

    def collect(self) -> Iterator[Metric]:
        config = self._sources.config
        up = GaugeMetricFamily(PREFIX + "database_up",
                               "1 when the outbox could be read for this scrape.")
        try:
            queue = read_queue(self._sources.database, utcnow(), config.delivery_stuck_after)
        except SQLAlchemyError as error:
            log.warning("metrics: cannot read the outbox (%s)", error.__class__.__name__)
            up.add_metric([], 0)
            yield up
        else:
            up.add_metric([], 1)
            yield up
            yield from _queue_families(queue)
        if config.slack_app_token:
            state = self._sources.socket_mode()
            connected = GaugeMetricFamily(
                PREFIX + "socket_mode_connected",
                "1 while this process's Socket Mode websocket is connected to Slack.")
            connected.add_metric([], 1 if state == "connected" else 0)
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
