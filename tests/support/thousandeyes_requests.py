"""What the fake ThousandEyes API reads from a request, and how it says it cannot.

Errors are RFC 7807 problem documents, as the v7 spec writes them (``Error``, and
``ValidationError`` with ``errors[]`` naming the field for a 400). Time filters, cursors
and dates are read the way the spec documents them.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime, timedelta
from typing import Any

from werkzeug.datastructures import MultiDict

from tests.support.thousandeyes_account import UTC, Alert

DEFAULT_LOOKBACK = timedelta(days=90)  # GET /alerts without a time filter
WINDOW = re.compile(r"^(\d+)([smhdw]?)$")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class ApiError(Exception):
    """An error answer: status, problem document, extra headers."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


def problem(status: int, title: str, detail: str = "", instance: str = "/v7",
            errors: list[dict[str, str]] | None = None) -> ApiError:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status,
                            "detail": detail or title, "instance": instance}
    if errors is not None:
        body["errors"] = errors
    return ApiError(status, body)


def invalid(field_name: str, message: str) -> ApiError:
    return problem(400, "Request validation failed. There are invalid or missing fields",
                   message, errors=[{"code": "INVALID", "field": field_name, "message": message}])


def time_range(args: MultiDict[str, str], now: datetime) -> tuple[datetime, datetime]:
    window, start, end = (args.get(name) for name in ("window", "startDate", "endDate"))
    if window is not None:
        if start is not None or end is not None:
            raise invalid("window", "window can't be used with startDate or endDate")
        match = WINDOW.match(window)
        if match is None:
            raise invalid("window", "window must be a number followed by s, m, h, d or w")
        return now - timedelta(seconds=int(match[1]) * UNITS[match[2]]), now
    until = utc_date(end, "endDate") if end is not None else now
    since = utc_date(start, "startDate") if start is not None else until - DEFAULT_LOOKBACK
    return since, until


def when(alert: Alert) -> datetime:
    """What the time filters apply to: the start of an active alert, the clear of another."""
    return alert.cleared_at or alert.started_at


def alert_order(alert: Alert) -> tuple[str, str]:
    return (when(alert).astimezone(UTC).isoformat(), alert.alert_id)


def encode_cursor(after: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(after).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[str, str] | None:
    if cursor is None:
        return None
    try:
        after = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return (str(after[0]), str(after[1]))
    except (binascii.Error, ValueError, TypeError, IndexError, UnicodeDecodeError):
        raise invalid("cursor", "Invalid cursor") from None


def utc_date(text: str, name: str) -> datetime:
    """An ISO 8601 date with its zone; one without is refused (the API asks for UTC)."""
    try:
        moment = datetime.fromisoformat(text)  # "Z" too, since Python 3.11
    except ValueError:
        raise invalid(name, f"{name} must be an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        raise invalid(name, f"{name} must say its time zone (UTC)")
    return moment


def positive_int(text: str | None, name: str) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or int(text) == 0:
        raise invalid(name, f"{name} must be a positive integer")
    return int(text)
