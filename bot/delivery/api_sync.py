"""The ThousandEyes API sync: what webhooks left open, closed from what the API knows.

Webhooks are fire-and-forget: ThousandEyes retries a failed one for an hour, then gives
up. At start and every ``THOUSANDEYES_SYNC_INTERVAL`` one process (the lease in
``bot.store.sync_state``) asks the API for the alerts active now and cleared since the
last run, and

- an alert open here that ThousandEyes lists as cleared gets its clear, as the webhook
  would have given it, saying the API confirmed it;
- an alert active there that no webhook brought (and no suppression window hides) is
  posted where its rule's alerts last went (else the default channel), saying the API
  found it.

Matching is by ``alertId``, or by rule, test and start for the integer ids of older
webhooks (``bot.thousandeyes.api_alerts``). The writes go through ingest like webhooks
(``bot.store.reconcile``), each re-checked under the alert's row lock, so a webhook
arriving meanwhile never makes two parents or two clears.

It runs on a thread of its own, never on the delivery threads or a web thread: the API
being down, slow or refusing (401, 403, 429) delays no webhook and no delivery. No
database transaction is open during an API call, and a 429 is never waited out inside a
call (the SDK's retries are off): its reset is recorded and no process calls before it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

from sqlalchemy.exc import SQLAlchemyError
from thousandeyes_sdk.alerts.models import Alerts

from bot.clock import utcnow
from bot.config import Config
from bot.db.database import Database
from bot.db.models import ApiSync as ApiSyncNote
from bot.outbox.leases import worker_identity
from bot.store import reconcile, sync_state
from bot.store.ingest import IncomingEvent
from bot.store.reminders import reminder_plan
from bot.store.routes import DEFAULT_ROUTE
from bot.thousandeyes import PayloadError
from bot.thousandeyes.api_alerts import (
    ApiAlert,
    confirmed_clear,
    found_trigger,
    from_sdk,
    is_uuid,
    same_start,
)
from bot.thousandeyes.api_client import ThousandEyesApi, build_api
from bot.thousandeyes.api_errors import API_ERRORS, ApiFailure, ApiProblem, classify

log = logging.getLogger(__name__)

# An alert this young may have its webhook on the way: it is "found" only later.
GRACE = timedelta(minutes=1)
# Cleared alerts are asked for from a little before the last run's end (clocks differ).
OVERLAP = timedelta(minutes=2)
# The first run asks for clears this far back at most (the API keeps 90 days).
FIRST_LOOKBACK = timedelta(days=30)
PAGE_SIZE = 500
# The longest rest between two pages (each rest is as long as the page took).
MAX_PAUSE = 0.5
# A holder that died is replaced after this; a run over 10,000 alerts takes seconds.
LEASE = timedelta(minutes=5)
# How often the thread looks whether a run is due (any process may have run it).
MAX_POLL_SECONDS = 10.0


@dataclass
class SyncReport:
    """What one run did; ``outcome`` is a sync_state.SyncState value."""

    outcome: str
    active: int = 0  # alerts ThousandEyes lists as active
    cleared_listed: int = 0  # alerts it lists as cleared since the last run
    clears: int = 0  # clears stored (confirmed through the API)
    found: int = 0  # alerts posted that no webhook brought
    skipped: int = 0  # findings a webhook had already brought meanwhile, or unplaceable
    failure: ApiFailure | None = field(default=None, repr=False)


BeforeWrite = Callable[[], None]


class ApiSync:
    """One process's part in the sync: ask for the lease when due, run, record."""

    def __init__(self, config: Config, database: Database, api: ThousandEyesApi, *,
                 clock: Callable[[], datetime] = utcnow, holder: str | None = None,
                 before_write: BeforeWrite | None = None) -> None:
        assert config.thousandeyes_sync_interval is not None
        self.config = config
        self.database = database
        self.api = api
        self.clock = clock
        self.holder = holder or worker_identity()
        self.interval = config.thousandeyes_sync_interval
        # A seam for tests: runs after the API was read, before the first write.
        self.before_write = before_write
        self.on_run: Callable[[SyncReport], None] | None = None  # bot.metrics.counters counts runs
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_config(cls, config: Config, database: Database) -> ApiSync | None:
        """The sync, or None: no THOUSANDEYES_API_TOKEN, or the interval is off."""
        if config.thousandeyes_sync_interval is None:
            return None
        api = build_api(config)
        return cls(config, database, api) if api is not None else None

    # --- the thread ---------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="thousandeyes-sync",
                                        daemon=True)
        self._thread.start()
        log.info("ThousandEyes API sync every %s", self.interval)

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.api.close()

    def _loop(self) -> None:
        poll = min(MAX_POLL_SECONDS, self.interval.total_seconds())
        while not self._stopping.is_set():
            try:
                self.run_if_due()
            except SQLAlchemyError as error:
                log.error("ThousandEyes sync: database error %s; trying again later",
                          error.__class__.__name__)
            self._stopping.wait(poll)

    # --- one run ------------------------------------------------------------------------

    def run_if_due(self) -> SyncReport | None:
        """Run once if due and this process gets the lease; None when it did not run."""
        started = self.clock()
        lease = sync_state.take_lease(self.database, self.holder, started, LEASE)
        if lease is None:
            return None
        timer = time.monotonic()
        report = SyncReport(sync_state.SyncState.OK)
        cleared_through = None
        try:
            active, cleared, asked_until = self._read_api(lease, started, report)
            self._apply(active, cleared, started, report)
            cleared_through = asked_until
        except API_ERRORS as error:
            report.failure = classify(error, self.clock())
            report.outcome = report.failure.problem.value
            log.warning("ThousandEyes sync: the API %s", _log_words(report.failure))
        except SQLAlchemyError as error:
            # What was stored stays stored; the next run finds the rest again.
            report.outcome = sync_state.SyncState.DATABASE_ERROR
            log.error("ThousandEyes sync: database error %s while storing; trying again"
                      " next run", error.__class__.__name__)
        finally:
            self._record(lease, started, report, cleared_through)
        if report.outcome == sync_state.SyncState.OK:
            log.info("ThousandEyes sync in %.1f s: %d active, %d cleared listed; %d clear(s)"
                     " confirmed, %d alert(s) found, %d already there",
                     time.monotonic() - timer, report.active, report.cleared_listed,
                     report.clears, report.found, report.skipped)
        if self.on_run is not None:
            self.on_run(report)
        return report

    def _read_api(self, lease: sync_state.SyncLease, now: datetime,
                  report: SyncReport) -> tuple[list[ApiAlert], list[ApiAlert], datetime]:
        """Every active alert, and those cleared since the last run (outside any
        transaction); and up to when clears were asked for."""
        # Whole seconds (the API reads ISO 8601 UTC dates to the second), rounded so that
        # an alert cleared in this very second is in the list.
        since = self._cleared_since(lease, now).replace(microsecond=0)
        now = (now + timedelta(seconds=1)).replace(microsecond=0)
        active = self._list(state="trigger")
        cleared = self._list(state="clear", start_date=since, end_date=now)
        report.active, report.cleared_listed = len(active), len(cleared)
        return active, cleared, now

    def _list(self, **filters: Any) -> list[ApiAlert]:
        """Every page of ``GET /alerts`` with these filters, following the cursor.

        After each page the thread rests as long as the page took (at most
        :data:`MAX_PAUSE`): reading and parsing thousands of alerts shares the process
        with the webhooks, which must not wait for it.
        """
        api, cursor = self.api, None
        listed: list[ApiAlert] = []
        while True:
            started = time.monotonic()
            page = api.alerts.get_alerts(aid=api.aid, max=PAGE_SIZE, cursor=cursor,
                                         _request_timeout=api.timeout, **filters)
            listed.extend(a for a in map(from_sdk, page.alerts or []) if a is not None)
            after = _next_cursor(page)
            if after is None or after == cursor:
                return listed
            cursor = after
            self._stopping.wait(min(MAX_PAUSE, time.monotonic() - started))

    def _cleared_since(self, lease: sync_state.SyncLease, now: datetime) -> datetime:
        if lease.cleared_through is not None:
            return min(lease.cleared_through, now) - OVERLAP
        return now - FIRST_LOOKBACK

    def _apply(self, active: list[ApiAlert], cleared: list[ApiAlert], now: datetime,
               report: SyncReport) -> None:
        """Match what the API listed with the store, then write the differences. Every
        write checks again under the alert's row lock (a webhook may have come since)."""
        open_rows = reconcile.open_alerts(self.database)
        by_key: dict[str, list[reconcile.StoredAlert]] = {}
        for row in open_rows:
            by_key.setdefault(row.alert_key, []).append(row)
        legacy = [row for row in open_rows if not is_uuid(row.alert_key)]
        lost_clears = [(row, alert) for alert in cleared
                       for row in by_key.get(alert.alert_id) or _legacy_matches(alert, legacy)]
        missed = self._missed(active, by_key, legacy, now)
        names = self._rule_names() if missed else {}
        if self.before_write is not None:
            self.before_write()
        for row, alert in lost_clears:
            self._store_clear(row, alert, now, report)
        for alert in missed:
            self._store_found(alert, names.get(alert.rule_id or "", ""), report)

    def _missed(self, active: list[ApiAlert], by_key: dict[str, list[reconcile.StoredAlert]],
                legacy: list[reconcile.StoredAlert], now: datetime) -> list[ApiAlert]:
        """Active alerts no webhook brought: not stored under any id, not suppressed by a
        window (ThousandEyes sent nothing on purpose), and old enough that their webhook
        is not simply on its way."""
        candidates = [a for a in active if not a.suppressed and a.alert_id not in by_key
                      and (a.started_at is None or a.started_at <= now - GRACE)
                      and not _legacy_matches(a, legacy)]
        if not candidates:
            return []
        known = reconcile.known_keys(self.database, [a.alert_id for a in candidates])
        return [a for a in candidates if a.alert_id not in known]

    def _store_clear(self, row: reconcile.StoredAlert, alert: ApiAlert, now: datetime,
                     report: SyncReport) -> None:
        try:
            event, body = confirmed_clear(reconcile.alert_data(self.database, row.id) or {},
                                          row.alert_key, alert.ended_at, now,
                                          self.config.parse_options())
        except PayloadError as error:
            log.warning("ThousandEyes sync: alert %d's stored payload no longer reads (%s);"
                        " its clear is left to the webhook", row.id, error)
            report.skipped += 1
            return
        incoming = IncomingEvent(event, route=row.route, channel=row.channel, body_text=body,
                                 now=self.clock(), team_id=row.team_id,
                                 default_channel=self.config.slack_channel or "",
                                 api_sync=ApiSyncNote.CLEARED)
        if reconcile.stored(reconcile.store_finding(self.database, incoming)):
            report.clears += 1
            log.info("ThousandEyes sync: alert %d (%s) cleared in ThousandEyes; its clear"
                     " webhook never arrived", row.id, row.alert_key)
        else:
            report.skipped += 1

    def _store_found(self, alert: ApiAlert, rule_name: str, report: SyncReport) -> None:
        place = self._place_for(alert)
        if place is None:
            report.skipped += 1
            return
        event, body = found_trigger(alert, rule_name, self.config.parse_options())
        incoming = IncomingEvent(
            event, route=place.route, channel=place.channel, body_text=body, now=self.clock(),
            team_id=place.team_id, default_channel=self.config.slack_channel or "",
            reminders=reminder_plan(self.config), flap_window=self.config.flap_window,
            api_sync=ApiSyncNote.FOUND)
        if reconcile.stored(reconcile.store_finding(self.database, incoming)):
            report.found += 1
            log.info("ThousandEyes sync: alert %s is active in ThousandEyes and no webhook"
                     " brought it; posting it", alert.alert_id)
        else:
            report.skipped += 1

    def _place_for(self, alert: ApiAlert) -> reconcile.Place | None:
        place = reconcile.last_place_of_rule(self.database, alert.rule_id) \
            if alert.rule_id else None
        if place is not None:
            return place
        if not self.config.default_route_has_workspace:
            log.warning("ThousandEyes sync: alert %s was found, but its rule has no alert"
                        " here yet and the default webhook has no workspace; not posted",
                        alert.alert_id)
            return None
        return reconcile.Place(DEFAULT_ROUTE, "", None)

    def _rule_names(self) -> dict[str, str]:
        """Rule id → name (one call): the API lists alerts by rule id only. Without it the
        alert is posted all the same, named by its type."""
        try:
            rules = self.api.rules.get_alerts_rules(aid=self.api.aid,
                                                    _request_timeout=self.api.timeout)
        except API_ERRORS as error:
            log.warning("ThousandEyes sync: rule names not read: %s",
                        _log_words(classify(error)))
            return {}
        return {rule.rule_id: rule.rule_name or "" for rule in rules.alert_rules or []
                if rule.rule_id}

    def _record(self, lease: sync_state.SyncLease, started: datetime, report: SyncReport,
                cleared_through: datetime | None) -> None:
        failure = report.failure
        next_run = started + self.interval
        blocked = None
        if failure is not None and failure.problem is ApiProblem.RATE_LIMITED:
            blocked = failure.reset_at
            next_run = max(next_run, blocked or next_run)
        sync_state.record_run(
            self.database, lease, self.clock(), state=report.outcome, next_run_at=next_run,
            status=failure.status if failure else None,
            detail=_public_detail(failure), blocked_until=blocked,
            cleared_through=cleared_through)


def _next_cursor(page: Alerts) -> str | None:
    """The ``cursor`` of the page's ``_links.next`` (None on the last page)."""
    link = page.links.next if page.links is not None else None
    if link is None or not link.href:
        return None
    return parse_qs(urlparse(link.href).query).get("cursor", [None])[0]


def _legacy_matches(alert: ApiAlert, legacy: list[reconcile.StoredAlert]
                    ) -> list[reconcile.StoredAlert]:
    """Open alerts of older webhooks (integer ids) that are this alert: same rule, same
    test, same start."""
    subject = alert.subject
    if subject is None:
        return []
    return [row for row in legacy if row.subject_key == subject
            and same_start(row.triggered_at, alert.started_at)]


def _public_detail(failure: ApiFailure | None) -> str:
    """What /healthz and the front page may repeat: our own words for the transport,
    never the API's text (it may name account groups; the pages are public)."""
    if failure is None or failure.problem is not ApiProblem.UNREACHABLE:
        return ""
    return failure.detail if failure.status is None else ""


def _log_words(failure: ApiFailure) -> str:
    return failure.summary() + (f" ({failure.detail})" if failure.detail and
                                failure.problem is not ApiProblem.UNREACHABLE else "")
