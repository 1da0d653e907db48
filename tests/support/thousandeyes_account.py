"""What a fake ThousandEyes account holds, and how API v7 writes it.

A test builds an account the way a ThousandEyes user knows one: tests, alert rules
assigned to them, alerts a rule raised on a test (seen by Cloud and Enterprise Agents,
or by BGP monitors) that later clear, and alert suppression windows. The fake's answers
are written from this model by the functions at the bottom, in the shapes of the v7
OpenAPI spec (Alerts API 7.0.100) that ``thousandeyes-sdk-alerts`` is generated from:
``Alert`` in lists, ``AlertDetail`` for one alert, ``AlertSuppressionWindowDetail``,
``BaseRule``/``RuleDetail``. tests/thousandeyes/test_fake_api.py parses every one of
them with the SDK's models, so a field written here that the spec does not know fails.

Facts the shapes rely on (spec and documented examples): alert ids are UUIDs; dates are
UTC ISO 8601 with ``Z``; ``alertState`` is ``trigger`` or ``clear`` and ``alertSeverity``
lower case; a listed alert names its test and rule only through ``_links`` (no test or
rule name); ``details[]`` carries each source's ``start``/``end`` metrics as text.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

UTC = UTC
APP_URL = "https://app.thousandeyes.com"
AGENT = "cea_agent"  # the ``details[].type`` of a Cloud or Enterprise Agent (documented)
BGP_MONITOR = "bgp_monitor"  # a BGP monitor's: not in any published example, our guess


@dataclass
class Test:
    test_id: str
    name: str
    type: str  # the spec's TestType: http-server, agent-to-server, bgp, ...


@dataclass
class Rule:
    rule_id: str
    name: str
    alert_type: str  # the spec's AlertType: http-server, end-to-end-server, bgp, ...
    expression: str
    severity: str = "major"
    test_ids: list[str] = field(default_factory=list)


@dataclass
class Source:
    """An agent or BGP monitor that saw the alert, with the metrics it reported."""

    source_id: str
    name: str
    metrics_at_start: str
    metrics_at_end: str | None = None
    kind: str = AGENT
    cleared: bool = False


@dataclass
class Alert:
    alert_id: str
    alert_type: str
    severity: str
    started_at: datetime
    aid: str
    sources: list[Source]
    rule: Rule | None = None
    test: Test | None = None  # None for outage alerts, which no test raised
    cleared_at: datetime | None = None
    asn: tuple[str, str] | None = None  # (number, name) of a network outage's AS

    @property
    def active(self) -> bool:
        return self.cleared_at is None

    @property
    def state(self) -> str:
        return "trigger" if self.active else "clear"


@dataclass
class SuppressionWindow:
    window_id: str
    name: str
    start: datetime
    duration: int  # seconds
    test_ids: list[str]
    enabled: bool = True
    repeat: dict[str, Any] | None = None
    end_repeat: dict[str, Any] | None = None

    def status(self, now: datetime) -> str:
        if now < self.start:
            return "inactive"
        return "active" if now < self.start + timedelta(seconds=self.duration) else "ended"


def agent(name: str, metrics_at_start: str = "Error Type: Connect", source_id: str = "") -> Source:
    return Source(source_id, name, metrics_at_start)


def monitor(name: str, metrics_at_start: str = "Reachability: 50%", source_id: str = "") -> Source:
    return Source(source_id, name, metrics_at_start, kind=BGP_MONITOR)


class Account:
    """One organisation's data, safe to change from a test while the fake serves it."""

    def __init__(self, clock: Callable[[], datetime] | None = None, aid: str = "1234") -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.aid = aid
        self.tests: dict[str, Test] = {}
        self.rules: dict[str, Rule] = {}
        self.alerts: dict[str, Alert] = {}
        self.windows: dict[str, SuppressionWindow] = {}
        self.lock = threading.RLock()
        self._ids = itertools.count(1)

    def _next_id(self, base: int) -> str:
        return str(base + next(self._ids))

    def add_test(self, name: str, type: str = "http-server") -> Test:
        with self.lock:
            test = Test(self._next_id(281474976710000), name, type)
            self.tests[test.test_id] = test
            return test

    def add_rule(self, name: str, alert_type: str, expression: str = "((errorType != \"None\"))",
                 severity: str = "major", tests: Iterable[Test] = ()) -> Rule:
        with self.lock:
            rule = Rule(self._next_id(127000), name, alert_type, expression, severity,
                        [test.test_id for test in tests])
            self.rules[rule.rule_id] = rule
            return rule

    def add_alert(self, rule: Rule, test: Test | None, sources: Iterable[Source],
                  started_at: datetime | None = None, severity: str | None = None,
                  aid: str | None = None, asn: tuple[str, str] | None = None) -> Alert:
        """An alert the rule raised now (or at ``started_at``), active until cleared."""
        with self.lock:
            seen = [Source(s.source_id or self._next_id(4000), s.name, s.metrics_at_start,
                           s.metrics_at_end, s.kind) for s in sources]
            alert = Alert(str(uuid.uuid4()), rule.alert_type, severity or rule.severity,
                          started_at or self.clock(), aid or self.aid, seen, rule, test, asn=asn)
            self.alerts[alert.alert_id] = alert
            return alert

    def clear(self, alert: Alert, at: datetime | None = None,
              metrics_at_end: str = "No violation") -> None:
        with self.lock:
            alert.cleared_at = at or self.clock()
            for source in alert.sources:
                source.cleared, source.metrics_at_end = True, metrics_at_end

    def add_window(self, name: str, start: datetime, duration: int, test_ids: list[str],
                   repeat: dict[str, Any] | None = None,
                   end_repeat: dict[str, Any] | None = None) -> SuppressionWindow:
        with self.lock:
            window = SuppressionWindow(self._next_id(2400), name, start, duration, test_ids,
                                       repeat=repeat, end_repeat=end_repeat)
            self.windows[window.window_id] = window
            return window

    def suppressed(self, alert: Alert, now: datetime) -> bool:
        with self.lock:
            return alert.test is not None and any(
                w.enabled and w.status(now) == "active" and alert.test.test_id in w.test_ids
                for w in self.windows.values())


# --- how API v7 writes them -------------------------------------------------------------

def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _link(href: str) -> dict[str, str]:
    return {"href": href}


def _alert_links(alert: Alert, base: str) -> dict[str, Any]:
    links = {"self": _link(f"{base}/alerts/{alert.alert_id}"),
             "appLink": _link(f"{APP_URL}/alerts/list/?__a={alert.aid}&alertId={alert.alert_id}")}
    if alert.test is not None:
        links["test"] = _link(f"{base}/tests/{alert.test.type}/{alert.test.test_id}")
    if alert.rule is not None:
        links["rule"] = _link(f"{base}/alerts/rules/{alert.rule.rule_id}")
    return links


def _common(alert: Alert, base: str, now: datetime, suppressed: bool) -> dict[str, Any]:
    end = alert.cleared_at or now
    written: dict[str, Any] = {
        "id": alert.alert_id,
        "alertType": alert.alert_type,
        "startDate": iso(alert.started_at),
        "violationCount": sum(not s.cleared for s in alert.sources) or len(alert.sources),
        "duration": int((end - alert.started_at).total_seconds()),
        "suppressed": suppressed,
        "meta": {"version": 1},
        "_links": _alert_links(alert, base),
        "alertState": alert.state,
        "alertSeverity": alert.severity,
    }
    if alert.cleared_at is not None:
        written["endDate"] = iso(alert.cleared_at)
    return written


def alert_summary(alert: Alert, base: str, now: datetime, suppressed: bool,
                  legacy: bool = False) -> dict[str, Any]:
    """An element of ``GET /alerts``' ``alerts[]`` (the spec's ``Alert``). ``legacy``: with
    the deprecated v6-era fields the spec still lists (``alertId``, ``dateStart``, integer
    ``ruleId``, ``state`` ACTIVE/CLEARED, upper-case ``severity``, ``permalink``)."""
    written = _common(alert, base, now, suppressed)
    if alert.rule is not None:
        written["alertRuleId"] = alert.rule.rule_id
    if legacy:
        written.update({
            "alertId": alert.alert_id,
            "dateStart": alert.started_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "state": "ACTIVE" if alert.active else "CLEARED",
            "severity": alert.severity.upper(),
            "permalink": written["_links"]["appLink"]["href"],
        })
        if alert.rule is not None:
            written["ruleId"] = int(alert.rule.rule_id)
        if alert.cleared_at is not None:
            written["dateEnd"] = alert.cleared_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return written


def alert_detail(alert: Alert, base: str, now: datetime, suppressed: bool) -> dict[str, Any]:
    """``GET /alerts/{alertId}`` (the spec's ``AlertDetail``): each source's metrics."""
    written = _common(alert, base, now, suppressed)
    written.update({"state": alert.state, "severity": alert.severity, "details": [
        _source(source) for source in alert.sources]})
    if alert.asn is not None:
        written["_embedded"] = {"asn": {"id": alert.asn[0], "name": alert.asn[1], "type": "asn"}}
    return written


def _source(source: Source) -> dict[str, Any]:
    written: dict[str, Any] = {"id": source.source_id, "name": source.name, "type": source.kind,
                               "state": "clear" if source.cleared else "trigger",
                               "start": {"metrics": source.metrics_at_start}}
    if source.metrics_at_end is not None:
        written["end"] = {"metrics": source.metrics_at_end}
    return written


def rule_summary(rule: Rule, base: str) -> dict[str, Any]:
    """An element of ``GET /alerts/rules``' ``alertRules[]`` (the spec's ``BaseRule``)."""
    return {"ruleId": rule.rule_id, "ruleName": rule.name, "expression": rule.expression,
            "alertType": rule.alert_type, "severity": rule.severity, "notifyOnClear": True,
            "isDefault": False, "minimumSources": 1, "roundsViolatingMode": "any",
            "roundsViolatingOutOf": 1, "roundsViolatingRequired": 1}


def rule_detail(rule: Rule, base: str) -> dict[str, Any]:
    """``GET /alerts/rules/{ruleId}`` (the spec's ``RuleDetail``)."""
    return {**rule_summary(rule, base), "testIds": list(rule.test_ids),
            "_links": {"self": _link(f"{base}/alerts/rules/{rule.rule_id}")}}


def window_detail(window: SuppressionWindow, base: str, now: datetime,
                  tests: list[Test] | None = None) -> dict[str, Any]:
    """An alert suppression window (``AlertSuppressionWindowDetail``); ``tests`` only when
    the request asked for ``expand=test`` (the spec: no expansion by default)."""
    written: dict[str, Any] = {
        "alertSuppressionWindowId": window.window_id, "name": window.name,
        "isEnabled": window.enabled, "status": window.status(now),
        "startDate": iso(window.start), "duration": window.duration,
        "_links": {"self": _link(f"{base}/alert-suppression-windows/{window.window_id}")},
    }
    if window.repeat is not None:
        written["repeat"] = window.repeat
    if window.end_repeat is not None:
        written["endRepeat"] = window.end_repeat
    if tests is not None:
        written["tests"] = [{"testId": t.test_id, "testName": t.name, "type": t.type,
                             "_links": {"self": _link(f"{base}/tests/{t.type}/{t.test_id}")}}
                            for t in tests]
    return written
