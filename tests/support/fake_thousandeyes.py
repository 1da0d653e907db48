"""A small fake of the ThousandEyes API v7 (alerts), served over real HTTP on loopback.

It answers what ``thousandeyes-sdk-alerts`` calls, from an :class:`Account` a test fills
(tests/support/thousandeyes_account.py), records every call, and can be scripted to
fail. It behaves as the v7 spec and ThousandEyes' documentation say, where a client
depends on it:

- a ``Bearer`` token; a wrong one answers 401 ``{"error": "invalid_token", ...}``; an
  ``aid`` the token is not assigned to, or a window change without the permission
  (only Account Admins may), answers 403;
- ``GET /alerts``: ``state`` ``trigger`` (the default) lists active alerts by when they
  started, ``clear`` cleared ones by when they cleared; ``window`` (``12h``) or
  ``startDate``/``endDate`` (UTC ISO 8601, never both with ``window``), else the last 90
  days; ``max`` per page and an opaque ``cursor`` in ``_links.next.href``;
- every answer carries ``X-Organization-Rate-Limit-Limit``/``-Remaining``/``-Reset``
  (epoch seconds); past ``rate_limit`` calls a minute, 429 until the reset;
- errors are RFC 7807 problem documents (``application/problem+json``), 400 with
  ``errors[]`` naming the field;
- an outage (``go_down``): every call answers 503, or nobody listens; ``stall``: calls
  wait, unanswered, until ``release()`` (a client's read timeout, without real waiting).
"""

from __future__ import annotations

import enum
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from tests.support.servers import LiveServer
from tests.support.thousandeyes_account import (
    Account,
    SuppressionWindow,
    alert_detail,
    alert_summary,
    rule_detail,
    rule_summary,
    window_detail,
)
from tests.support.thousandeyes_requests import (
    UUID,
    ApiError,
    alert_order,
    decode_cursor,
    encode_cursor,
    invalid,
    positive_int,
    problem,
    time_range,
    utc_date,
    when,
)

TOKEN = "te-api-token-0123456789abcdef"


class Operation(enum.Enum):
    """The API's operations, named as the SDK's methods (the spec's operationIds)."""

    GET_ALERTS = "get_alerts"
    GET_ALERT = "get_alert"
    GET_ALERT_RULES = "get_alerts_rules"
    GET_ALERT_RULE = "get_alert_rule"
    GET_WINDOWS = "get_alert_suppression_windows"
    GET_WINDOW = "get_alert_suppression_window"
    CREATE_WINDOW = "create_alert_suppression_window"
    DELETE_WINDOW = "delete_alert_suppression_window"


_CHANGES_WINDOWS = {Operation.CREATE_WINDOW, Operation.DELETE_WINDOW}


@dataclass
class Call:
    operation: Operation | None
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    token: str | None
    at: float
    status: int = 200


@dataclass
class Fault:
    operation: Operation | None  # None: any operation
    status: int = 500
    remaining: int = 1
    reset_in: int = 60  # a 429's X-Organization-Rate-Limit-Reset, seconds from now
    detail: str = ""
    stall: bool = False  # wait unanswered until release(), then answer normally
    done_anyway: bool = False  # the change was made, then the answer failed


@dataclass
class FakeThousandEyes:
    account: Account = field(default_factory=Account)
    token: str = TOKEN
    account_groups: set[str] = field(default_factory=lambda: {"1234"})
    can_edit_windows: bool = True
    rate_limit: int = 240  # calls a minute, the documented default for an organisation
    page_size: int = 100  # alerts a page when the client gives no ``max``
    legacy_fields: bool = False  # list alerts with the spec's deprecated fields too
    calls: list[Call] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    down: str | None = None  # None, "503" or "refuse"

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._minute = (0, 0)  # (epoch minute, calls in it)
        self._routes = Map([
            Rule("/v7/alerts", methods=["GET"], endpoint=Operation.GET_ALERTS),
            Rule("/v7/alerts/rules", methods=["GET"], endpoint=Operation.GET_ALERT_RULES),
            Rule("/v7/alerts/rules/<rule_id>", methods=["GET"], endpoint=Operation.GET_ALERT_RULE),
            Rule("/v7/alerts/<alert_id>", methods=["GET"], endpoint=Operation.GET_ALERT),
            Rule("/v7/alert-suppression-windows", methods=["GET"], endpoint=Operation.GET_WINDOWS),
            Rule("/v7/alert-suppression-windows", methods=["POST"],
                 endpoint=Operation.CREATE_WINDOW),
            Rule("/v7/alert-suppression-windows/<window_id>", methods=["GET"],
                 endpoint=Operation.GET_WINDOW),
            Rule("/v7/alert-suppression-windows/<window_id>", methods=["DELETE"],
                 endpoint=Operation.DELETE_WINDOW),
        ])
        self._handlers: dict[Operation, Callable[..., tuple[int, Any, dict[str, str]]]] = {
            Operation.GET_ALERTS: self._get_alerts,
            Operation.GET_ALERT: self._get_alert,
            Operation.GET_ALERT_RULES: self._get_alert_rules,
            Operation.GET_ALERT_RULE: self._get_alert_rule,
            Operation.GET_WINDOWS: self._get_windows,
            Operation.GET_WINDOW: self._get_window,
            Operation.CREATE_WINDOW: self._create_window,
            Operation.DELETE_WINDOW: self._delete_window,
        }
        self._http = LiveServer(self._wsgi)
        self.url = f"{self._http.url}/v7"  # what Configuration(host=...) takes

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeThousandEyes:
        self._http.__enter__()
        return self

    def stop(self) -> None:
        self.release()
        self._http.close()

    def go_down(self, mode: str = "503") -> None:
        """An outage: every call answers 503, or (``"refuse"``) nobody listens."""
        assert mode in ("503", "refuse")
        if mode == "refuse":
            self._http.close()
        self.down = mode

    def come_back(self) -> None:
        if self.down == "refuse":
            self._http.listen_again()
        self.down = None

    # --- scripting ------------------------------------------------------------------------

    def fail(self, operation: Operation | None = None, status: int = 500, *, times: int = 1,
             reset_in: int = 60, detail: str = "", done_anyway: bool = False) -> None:
        """The next ``times`` calls of ``operation`` (None: of any) answer ``status``; a 429
        says the limit resets ``reset_in`` seconds from now."""
        with self._lock:
            self.faults.append(Fault(operation, status, times, reset_in, detail,
                                     done_anyway=done_anyway))

    def stall(self, operation: Operation | None = None, times: int = 1) -> None:
        """The next ``times`` calls wait unanswered until :meth:`release` (or stop)."""
        with self._lock:
            self._released.clear()
            self.faults.append(Fault(operation, 200, times, stall=True))

    def release(self) -> None:
        self._released.set()

    # --- reading what happened -------------------------------------------------------------

    def calls_to(self, operation: Operation) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.operation is operation]

    # --- the server -----------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        auth = request.headers.get("Authorization", "")
        call = Call(None, request.method, request.path, request.args.to_dict(flat=False),
                    request.get_json(silent=True), auth[7:] if auth.startswith("Bearer ") else None,
                    time.monotonic())
        with self._lock:
            self.calls.append(call)
        try:
            status, body, headers = self._answer(request, call)
        except ApiError as error:
            status, body, headers = error.status, error.body, error.headers
        call.status = status
        return self._respond(environ, start_response, status, body, headers)

    def _answer(self, request: Request, call: Call) -> tuple[int, Any, dict[str, str]]:
        try:
            endpoint, arguments = self._routes.bind_to_environ(request.environ).match()
        except HTTPException as error:
            raise problem(error.code or 404, error.name, instance=request.path) from None
        call.operation = operation = endpoint
        with self._lock:
            fault = None if self.down else self._take_fault(operation)
        if self.down:
            raise problem(503, "Service Unavailable", instance=request.path)
        if fault is not None and fault.stall:
            self._released.wait(30)  # never longer than a test would
            fault = None
        if fault is not None and not fault.done_anyway:
            raise self._faulted(fault, request.path)
        self._authorise(request, call, operation)
        answer = self._handlers[operation](request, **arguments)
        if fault is not None:
            raise self._faulted(fault, request.path)
        return answer

    def _take_fault(self, operation: Operation) -> Fault | None:
        for fault in self.faults:
            if fault.remaining > 0 and fault.operation in (None, operation):
                fault.remaining -= 1
                return fault
        return None

    def _faulted(self, fault: Fault, path: str) -> ApiError:
        if fault.status == 401:
            return ApiError(401, {"error": "invalid_token", "error_description": "Invalid access token"},
                            {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if fault.status == 429:
            error = problem(429, "Too Many Requests", fault.detail
                            or "Exhausted rate limit for the organization", path)
            error.headers = self._limit_headers(remaining=0, reset_in=fault.reset_in)
            return error
        return problem(fault.status, {403: "Forbidden", 404: "URI Resource Not Found"}.get(
            fault.status, "Internal server error"), fault.detail, path)

    def _authorise(self, request: Request, call: Call, operation: Operation) -> None:
        if not hmac.compare_digest(call.token or "", self.token):
            raise self._faulted(Fault(operation, 401), request.path)
        now = self._now().timestamp()
        with self._lock:
            minute, used = self._minute
            used = used + 1 if int(now // 60) == minute else 1
            self._minute = (int(now // 60), used)
        if used > self.rate_limit:
            raise self._faulted(Fault(operation, 429, reset_in=int(60 - now % 60) + 1),
                                request.path)
        aid = request.args.get("aid")
        if aid is not None and aid not in self.account_groups:
            raise problem(403, "Forbidden", f"You are not assigned to account group {aid}",
                          request.path)
        if operation in _CHANGES_WINDOWS and not self.can_edit_windows:
            raise problem(403, "Forbidden", "Only Account Admins can change alert suppression "
                          "windows", request.path)

    def _limit_headers(self, remaining: int | None = None, reset_in: int | None = None) -> dict[str, str]:
        now = self._now().timestamp()
        with self._lock:
            used = self._minute[1] if int(now // 60) == self._minute[0] else 0
        reset = int(now) + reset_in if reset_in is not None else (int(now // 60) + 1) * 60
        left = remaining if remaining is not None else max(self.rate_limit - used, 0)
        return {"X-Organization-Rate-Limit-Limit": str(self.rate_limit),
                "X-Organization-Rate-Limit-Remaining": str(left),
                "X-Organization-Rate-Limit-Reset": str(reset)}

    def _respond(self, environ: dict[str, Any], start_response: Any, status: int, body: Any,
                 headers: dict[str, str]) -> Any:
        if body is None:
            response = Response(status=status)
        else:
            kind = "application/hal+json" if status < 400 else "application/problem+json"
            if status == 401:
                kind = "application/json"
            response = Response(json.dumps(body), status=status, content_type=kind)
        response.headers.update({**self._limit_headers(), **headers})
        return response(environ, start_response)

    def _now(self) -> datetime:
        return self.account.clock()

    def _aid(self, request: Request) -> str:
        return request.args.get("aid") or self.account.aid

    # --- the operations ---------------------------------------------------------------------

    def _get_alerts(self, request: Request) -> tuple[int, Any, dict[str, str]]:
        now = self._now()
        state = request.args.get("state", "trigger")
        if state not in ("trigger", "clear"):
            raise invalid("state", "state must be one of trigger, clear")
        since, until = time_range(request.args, now)
        aid = self._aid(request)
        with self.account.lock:
            found = [a for a in self.account.alerts.values() if a.aid == aid
                     and (a.active if state == "trigger" else not a.active)
                     and since <= when(a) <= until]
            found.sort(key=alert_order)
            after = decode_cursor(request.args.get("cursor"))
            if after is not None:
                found = [a for a in found if alert_order(a) > after]
            limit = positive_int(request.args.get("max"), "max") or self.page_size
            page, more = found[:limit], len(found) > limit
            written = [alert_summary(a, self.url, now, self.account.suppressed(a, now),
                                     self.legacy_fields) for a in page]
        links: dict[str, Any] = {"self": {"href": request.url}}
        if more:
            query = {k: v for k, v in request.args.items(multi=True) if k != "cursor"}
            query["cursor"] = encode_cursor(alert_order(page[-1]))
            links["next"] = {"href": f"{self.url}/alerts?{urlencode(query)}"}
        return 200, {"alerts": written, "_links": links}, {}

    def _get_alert(self, request: Request, alert_id: str) -> tuple[int, Any, dict[str, str]]:
        if not UUID.match(alert_id):
            raise invalid("alertId", "alertId must be a UUID")
        now = self._now()
        with self.account.lock:
            alert = self.account.alerts.get(alert_id)
            if alert is None or alert.aid != self._aid(request):
                raise problem(404, "URI Resource Not Found", f"No alert {alert_id}", request.path)
            return 200, alert_detail(alert, self.url, now, self.account.suppressed(alert, now)), {}

    def _get_alert_rules(self, request: Request) -> tuple[int, Any, dict[str, str]]:
        with self.account.lock:
            rules = [rule_summary(rule, self.url) for rule in self.account.rules.values()]
        return 200, {"alertRules": rules, "_links": {"self": {"href": request.url}}}, {}

    def _get_alert_rule(self, request: Request, rule_id: str) -> tuple[int, Any, dict[str, str]]:
        with self.account.lock:
            rule = self.account.rules.get(rule_id)
            if rule is None:
                raise problem(404, "URI Resource Not Found", f"No alert rule {rule_id}", request.path)
            return 200, rule_detail(rule, self.url), {}

    def _get_windows(self, request: Request) -> tuple[int, Any, dict[str, str]]:
        now = self._now()
        with self.account.lock:
            windows = [window_detail(w, self.url, now) for w in self.account.windows.values()]
        return 200, {"alertSuppressionWindows": windows,
                     "_links": {"self": {"href": request.url}}}, {}

    def _get_window(self, request: Request, window_id: str) -> tuple[int, Any, dict[str, str]]:
        with self.account.lock:
            window = self.account.windows.get(window_id)
            if window is None:
                raise problem(404, "URI Resource Not Found", f"No window {window_id}", request.path)
            return 200, self._window(window, request), {}

    def _window(self, window: SuppressionWindow, request: Request) -> dict[str, Any]:
        expand = "test" in request.args.get("expand", "").split(",")
        tests = [self.account.tests[t] for t in window.test_ids] if expand else None
        return window_detail(window, self.url, self._now(), tests)

    def _create_window(self, request: Request) -> tuple[int, Any, dict[str, str]]:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise invalid("body", "The request body must be a JSON object")
        name, start, duration = body.get("name"), body.get("startDate"), body.get("duration")
        test_ids = body.get("testIds") or []
        if not isinstance(test_ids, list):
            raise invalid("testIds", "testIds must be a list of test ids")
        if not isinstance(name, str) or not name.strip():
            raise invalid("name", "name is required")
        if not isinstance(start, str):
            raise invalid("startDate", "startDate is required")
        if not isinstance(duration, int) or isinstance(duration, bool) or duration <= 0:
            raise invalid("duration", "duration must be a positive number of seconds")
        with self.account.lock:
            unknown = [t for t in test_ids if t not in self.account.tests]
            if unknown:
                raise invalid("testIds", f"Unknown test ids: {', '.join(map(str, unknown))}")
            window = self.account.add_window(name, utc_date(start, "startDate"), duration,
                                             list(test_ids), body.get("repeat"), body.get("endRepeat"))
            written = self._window(window, request)
        location = f"{self.url}/alert-suppression-windows/{window.window_id}"
        return 201, written, {"Location": location}

    def _delete_window(self, request: Request, window_id: str) -> tuple[int, Any, dict[str, str]]:
        with self.account.lock:
            if self.account.windows.pop(window_id, None) is None:
                raise problem(404, "URI Resource Not Found", f"No window {window_id}", request.path)
        return 204, None, {}


@pytest.fixture
def fake_thousandeyes() -> Iterator[FakeThousandEyes]:
    thousandeyes = FakeThousandEyes().start()
    yield thousandeyes
    thousandeyes.stop()
