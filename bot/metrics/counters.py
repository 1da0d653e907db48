"""The counters and histograms of what happened: webhooks answered, events stored, jobs
delivered, retried, rate-limited and dead-lettered, and how long people waited.

One :class:`Metrics` per app (or per ``python -m bot worker``), with its own registry,
so two apps in one process (two tests) never share counts. Across processes the counts
are added up by prometheus_client's multiprocess mode: every process of one host that
has the same ``PROMETHEUS_MULTIPROC_DIR`` writes its values to files there, and
``/metrics`` reads them all (``bot.metrics.http``; ``bot.metrics.multiprocess`` makes a
directory for ``serve`` with several web workers). What the queue looks like now is not
counted here but read from the database at scrape time (``bot.outbox.snapshot``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy.exc import SQLAlchemyError

from bot.db.models import JobKind
from bot.outbox.claimed import ClaimedJob
from bot.outbox.enqueue import CLICK_CAUSE
from bot.outbox.kinds import WEBHOOK_KINDS
from bot.outbox.outcome import Dead, Done, Outcome, Retry
from bot.slack.errors import HistoryLimited, RateLimited, SlackDeliveryError
from bot.thousandeyes.models import EventType

PREFIX = "thousandeyes_"
_KNOWN_EVENT_TYPES = frozenset(t.value for t in EventType)
# Slack answers in seconds when all is well and in minutes when it rate-limits or fails.
_POST_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
_CLICK_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300)
_MAX_LABEL = 60


class SyncRun(Protocol):
    """What a run of the ThousandEyes API sync reports (``bot.delivery.api_sync``'s
    ``SyncReport``), read by shape: importing it would load the SDK for every process."""

    @property
    def outcome(self) -> str: ...
    @property
    def clears(self) -> int: ...
    @property
    def found(self) -> int: ...


class Metrics:
    """What one process saw. Label values come from a short, known list (event types
    outside it are ``other``, route ids only of routes that exist), so a sender cannot
    grow the series without bound."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.webhooks = Counter(
            PREFIX + "webhooks", "Webhook requests answered, by route and HTTP status.",
            ["route", "status"], registry=self.registry)
        self.events = Counter(
            PREFIX + "events", "ThousandEyes events stored (accepted) or ignored as a"
            " repeated eventId (duplicate), by event type.",
            ["type", "result"], registry=self.registry)
        self.deliveries = Counter(
            PREFIX + "deliveries", "Runs of delivery jobs by kind and outcome (delivered,"
            " retry, dead) and Slack error code ('' when delivered).",
            ["kind", "outcome", "error"], registry=self.registry)
        self.rate_limited = Counter(
            PREFIX + "slack_rate_limited", "Slack answers 429 (rate limited) met by delivery"
            " jobs, by kind.", ["kind"], registry=self.registry)
        self.accepted_to_posted = Histogram(
            PREFIX + "accepted_to_posted_seconds", "From the webhook's event being accepted"
            " to its message being posted in Slack.", ["kind"], buckets=_POST_BUCKETS,
            registry=self.registry)
        self.api_syncs = Counter(
            PREFIX + "api_syncs", "Runs of the ThousandEyes API sync, by outcome (ok,"
            " unauthorized, forbidden, rate_limited, unreachable, rejected, database_error).",
            ["outcome"], registry=self.registry)
        self.api_sync_changes = Counter(
            PREFIX + "api_sync_changes", "What the ThousandEyes API sync stored: clears whose"
            " webhook never arrived (cleared), alerts no webhook brought (found).",
            ["change"], registry=self.registry)
        self.click_to_updated = Histogram(
            PREFIX + "click_to_updated_seconds", "From an Acknowledge or Unacknowledge click"
            " to the parent message showing it.", buckets=_CLICK_BUCKETS,
            registry=self.registry)
        self.pruned_rows = Counter(
            PREFIX + "pruned_rows", "Rows deleted because they were older than RETENTION,"
            " by table.", ["table"], registry=self.registry)

    def webhook_answered(self, route: str, status: int) -> None:
        self.webhooks.labels(route=route[:_MAX_LABEL], status=str(status)).inc()

    def event_stored(self, event_type: str, duplicate: bool) -> None:
        kind = event_type if event_type in _KNOWN_EVENT_TYPES else "other"
        self.events.labels(type=kind, result="duplicate" if duplicate else "accepted").inc()

    def api_sync_ran(self, report: SyncRun) -> None:
        """One run of the ThousandEyes API sync in this process (``ApiSync.on_run``)."""
        self.api_syncs.labels(outcome=str(report.outcome)[:_MAX_LABEL]).inc()
        if report.clears:
            self.api_sync_changes.labels(change="cleared").inc(report.clears)
        if report.found:
            self.api_sync_changes.labels(change="found").inc(report.found)

    def job_finished(self, job: ClaimedJob, outcome: Outcome, error: BaseException | None,
                     now: datetime) -> None:
        """A delivery thread recorded ``outcome`` for ``job`` (``DeliveryWorker.on_finished``)."""
        waited = (now - job.created_at).total_seconds() if job.created_at else None
        if isinstance(outcome, Done):
            self.deliveries.labels(kind=job.kind, outcome="delivered", error="").inc()
            if waited is not None and job.kind in WEBHOOK_KINDS:
                self.accepted_to_posted.labels(kind=job.kind).observe(max(0.0, waited))
            if (waited is not None and job.kind == JobKind.REFRESH_PARENT
                    and job.data.get("cause") == CLICK_CAUSE):
                self.click_to_updated.observe(max(0.0, waited))
            return
        code = _error_code(error)
        if isinstance(outcome, Retry):
            self.deliveries.labels(kind=job.kind, outcome="retry", error=code).inc()
            if isinstance(error, (RateLimited, HistoryLimited)):
                self.rate_limited.labels(kind=job.kind).inc()
        elif isinstance(outcome, Dead):
            self.deliveries.labels(kind=job.kind, outcome="dead", error=code).inc()

    def rows_pruned(self, by_table: Mapping[str, int]) -> None:
        """A run of RETENTION's pruning deleted these rows (``DeliveryWorker.on_pruned``)."""
        for table, count in by_table.items():
            self.pruned_rows.labels(table=table).inc(count)


def _error_code(error: BaseException | None) -> str:
    """Slack's error code (``channel_not_found``, ``ratelimited``, ``http_503`` …), or
    what else went wrong, in a word."""
    if isinstance(error, SlackDeliveryError):
        return error.code[:_MAX_LABEL]
    if isinstance(error, SQLAlchemyError):
        return "database_error"
    return "unexpected" if error is not None else ""
