"""Dates as ThousandEyes sends them, as aware UTC datetimes naming the true instant.

Seen in the wild: ``"2014-08-24 01:01:47"`` (the account's local time, no zone),
``"2022-04-25 17:18:00 CDT"`` (``*Zoned`` fields: local time plus an abbreviation, see
:mod:`bot.thousandeyes.zones`), ISO 8601 with ``Z`` or an offset, numeric offsets
(``+0530``, ``UTC+05:30``), and epoch seconds or milliseconds as numbers or numeric
strings (agent notifications), which name an instant whatever the zone.

An unzoned local time is read in ``THOUSANDEYES_TIMEZONE`` (:class:`ParseOptions`). In a
fall-back hour that happens twice it is the first pass, as nothing tells the two apart;
in a spring-forward gap that never happens, the offset before the change.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

from bot.thousandeyes.options import DEFAULT_OPTIONS, ParseOptions
from bot.thousandeyes.zones import abbreviation_offset

# Epoch values above this are milliseconds (this many seconds is the year 5138).
_MILLIS_THRESHOLD = 100_000_000_000
_LOCAL_THEN_ZONE = re.compile(
    r"^(\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)?)\s*(.*)$")
_NUMERIC_OFFSET = re.compile(r"^(?:(?:UTC|GMT|UT)\s*)?([+-])(\d{1,2})(?::?(\d{2}))?$",
                             re.IGNORECASE)
_ABBREVIATION = re.compile(r"^[A-Za-z]{1,6}$")
_ZONE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+){1,2}$")


def parse_te_datetime(
    value: Any, options: ParseOptions = DEFAULT_OPTIONS, *, assume_zone: bool = True
) -> datetime | None:
    """The instant ``value`` names, in UTC, or None when it cannot be placed.

    ``assume_zone=False`` refuses an unzoned local time instead of reading it in the
    account's zone (used when the payload shows that the zone, only the default, would
    be UTC by accident).
    """
    moment = read_te_datetime(value, options, assume_zone=assume_zone)
    if moment is None:
        return None
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):  # e.g. 0001-01-01 at +01:00 has no UTC equivalent
        return None


def read_te_datetime(
    value: Any, options: ParseOptions = DEFAULT_OPTIONS, *, assume_zone: bool = True
) -> datetime | None:
    """Like :func:`parse_te_datetime`, but in the zone the value names (its offset tells
    what the account's clocks said then); epoch values are in UTC."""
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
    match = _LOCAL_THEN_ZONE.match(text)
    if match is None:
        return None
    local_text, zone_text = match.groups()
    try:
        local = datetime.fromisoformat(local_text.replace(",", "."))
    except ValueError:
        return None
    zone = _zone(zone_text, local, options, assume_zone)
    return None if zone is None else local.replace(tzinfo=zone)


def offset_at(moment: datetime) -> ParseOptions:
    """Options reading unzoned dates at ``moment``'s UTC offset: the account's offset as
    a zoned date showed it, for the unzoned dates beside it."""
    offset = moment.utcoffset() or timedelta(0)
    return ParseOptions(timezone(offset), False)


def _zone(text: str, local: datetime, options: ParseOptions, assume_zone: bool) -> tzinfo | None:
    if not text:
        return options.timezone if assume_zone else None
    numeric = _NUMERIC_OFFSET.match(text)
    if numeric:
        sign, hours, minutes = numeric.groups()
        if int(hours) > 18 or int(minutes or 0) > 59:
            return None
        offset = timedelta(hours=int(hours), minutes=int(minutes or 0))
        return timezone(-offset if sign == "-" else offset)
    if _ABBREVIATION.match(text):
        named = abbreviation_offset(text, local, options.timezone)
        if named is not None:
            return named
        # A short name we do not know: trust the zone only if the operator named it.
        return options.timezone if options.timezone_configured else None
    if _ZONE_NAME.match(text):
        try:
            return zoneinfo.ZoneInfo(text)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            return None
    return None


def _from_epoch(value: float | str) -> datetime | None:
    """Epoch seconds or milliseconds; None for values no calendar can hold."""
    try:
        seconds = float(value)
        if abs(seconds) >= _MILLIS_THRESHOLD:
            seconds /= 1000.0
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
