"""Durations as people read them in an incident channel: "8m 4s", "2h 5m", "3d 1h".

Two units are enough to tell a blip from an outage; more is noise. Computed in Python
rather than in templates so every message says the same thing the same way.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)

_MINUTE = 60
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR


def human_duration(value: Any) -> str:
    """Seconds (or a timedelta) as "45s", "8m 4s", "2h 5m", "3d 1h"; "" when unknown.

    Negative spans (clock skew between ThousandEyes and this service) read as "0s"
    rather than as nonsense.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        return ""
    if seconds != seconds:  # NaN
        return ""
    total = max(0, int(seconds))
    if total < _MINUTE:
        return f"{total}s"
    if total < _HOUR:
        minutes, secs = divmod(total, _MINUTE)
        return f"{minutes}m {secs}s" if secs else f"{minutes}m"
    if total < _DAY:
        hours, rest = divmod(total, _HOUR)
        minutes = rest // _MINUTE
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, rest = divmod(total, _DAY)
    hours = rest // _HOUR
    return f"{days}d {hours}h" if hours else f"{days}d"


def seconds_between(start: datetime | None, end: datetime | None) -> int | None:
    """Whole seconds from ``start`` to ``end``, or None when either is unknown."""
    if start is None or end is None:
        return None
    try:
        return int((end - start).total_seconds())
    except TypeError:
        # A naive and an aware datetime: a bug upstream, but not worth losing the alert.
        log.warning("cannot subtract %r from %r (naive vs aware datetime)", start, end)
        return None
