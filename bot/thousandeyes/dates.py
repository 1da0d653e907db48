"""Dates as ThousandEyes sends them, normalised to aware UTC datetimes.

Seen in the wild: ``"2014-08-24 01:01:47"`` (UTC, no zone), ISO 8601 with ``Z`` or an
offset, ``"2014-08-24 01:01:47 UTC"``, and epoch seconds or milliseconds as integers or
numeric strings (agent notifications).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

# Epoch values above this are milliseconds (this many seconds is the year 5138).
_MILLIS_THRESHOLD = 100_000_000_000


def parse_te_datetime(value: Any) -> datetime | None:
    """Return an aware UTC datetime, or None when ``value`` is not a date we recognise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return _from_epoch(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    if text.lstrip("-").replace(".", "", 1).isdigit():
        return _from_epoch(text)
    if text.upper().endswith(" UTC") or text.upper().endswith(" GMT"):
        text = text[:-4]
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        # ThousandEyes' unzoned dates are UTC.
        return parsed.replace(tzinfo=timezone.utc)
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 has no UTC equivalent
        return None


def _from_epoch(value: float | str) -> datetime | None:
    """Epoch seconds or milliseconds; None for values no calendar can hold."""
    try:
        seconds = float(value)
        if abs(seconds) >= _MILLIS_THRESHOLD:
            seconds /= 1000.0
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None
