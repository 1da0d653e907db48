"""Reading one field of a classic payload: tolerant of how real senders drift.

Strict only where the service cannot work without a value (ids); everything optional
that is odd reads as absent, so an odd value never costs the user the alert.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.thousandeyes.dates import offset_at, parse_te_datetime, read_te_datetime
from bot.thousandeyes.models import PayloadError
from bot.thousandeyes.options import ParseOptions


def json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if value is None:
        return "null"
    return type(value).__name__


def required_object(body: Mapping[str, Any], name: str, owner: str) -> Mapping[str, Any]:
    value = body.get(name)
    if value is None:
        raise PayloadError(f"{owner} requires an '{name}' object")
    if not isinstance(value, dict):
        raise PayloadError(f"'{name}' must be an object, not {json_type(value)}")
    return value


def optional_object(body: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = body.get(name)
    return value if isinstance(value, dict) else {}


def id_text(value: Any) -> str | None:
    """Ids arrive as numbers or strings (UUIDs); keep them as strings either way."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        # NULs go first, so an id made only of them is no id at all.
        cleaned = value.replace("\x00", "").strip()
        return cleaned or None
    return None


def required_id(obj: Mapping[str, Any], name: str, owner: str) -> str:
    if name not in obj or obj[name] is None:
        raise PayloadError(f"{owner} has no '{name}'")
    value = id_text(obj[name])
    if value is None:
        raise PayloadError(f"'{name}' must be a non-empty string or an integer")
    if len(value) > 200:
        raise PayloadError(f"'{name}' is longer than 200 characters")
    return value


def optional_id(obj: Mapping[str, Any], name: str) -> str | None:
    value = id_text(obj.get(name))
    return value[:200] if value else None


def text(obj: Mapping[str, Any], name: str) -> str:
    """Display text, trimmed: a name sent as ``"Packet1 "`` would end Slack's ``*bold*``
    early. Otherwise as received, mis-decoded characters included: guessing at a repair
    could turn a readable name into a wrong one."""
    return text_value(obj.get(name))


def text_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        # NUL has no place in a name and PostgreSQL text cannot hold it.
        return (value.replace("\x00", "") if "\x00" in value else value).strip()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return ""


def integer(obj: Mapping[str, Any], name: str) -> int | None:
    value = obj.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None  # shown as unknown rather than refusing the alert


RULE_CHANGED = 2  # ``active: 2``: the rule was modified or removed while alerting


def activity(value: Any) -> tuple[bool | None, bool]:
    """``active`` as (still active?, rule changed?): 0 cleared, 1 active, 2 the alert
    rule was modified or removed from the test while alerting (also sent as strings)."""
    if value is None or value == "":
        return None, False
    if isinstance(value, str):
        word = value.strip().lower()
        if word == str(RULE_CHANGED):
            return False, True
        return word in ("1", "true", "yes"), False
    if not isinstance(value, bool) and value == RULE_CHANGED:
        return False, True
    return bool(value), False


def severity(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().upper()


def labels(value: Any) -> tuple[str, ...]:
    """``testLabels`` is a list of strings or of ``{"name": ...}`` objects in the wild."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if not isinstance(value, list):
        return ()
    found = []
    for item in value:
        if isinstance(item, str) and item.strip():
            found.append(item.strip())
        elif isinstance(item, dict):
            name = item.get("name") or item.get("label")
            if isinstance(name, str) and name.strip():
                found.append(name.strip())
    return tuple(found)


@dataclass
class DateReader:
    """Reads the dates of one alert object, remembering those it could not place.

    A ``*Zoned`` variant wins: it names its zone. An unzoned value is a local time in the
    account's zone: THOUSANDEYES_TIMEZONE when set; when not, the offset the alert's own
    zoned dates show (a US account's ``CDT`` says its unzoned dates are at UTC-05:00),
    and only without any zoned date the default, UTC. If the alert's zoned date cannot
    be read and no zone is set, unzoned values are not placed at all: taking them as UTC
    is the very mistake the unreadable zone warns of.
    """

    options: ParseOptions
    unzoned: ParseOptions | None  # how unzoned local times are read; None: they are not
    unplaced: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def for_alert(cls, obj: Mapping[str, Any], options: ParseOptions) -> DateReader:
        if not options.timezone_configured:
            for name in ("dateStartZoned", "dateEndZoned"):
                value = obj.get(name)
                if value is None or value == "":
                    continue
                moment = read_te_datetime(value, options, assume_zone=False)
                return cls(options, offset_at(moment) if moment is not None else None)
        return cls(options, options)

    def for_part(self) -> DateReader:
        """The same reading for a part of the alert (an agent), with its own record."""
        return DateReader(self.options, self.unzoned)

    def read(self, obj: Mapping[str, Any], name: str) -> datetime | None:
        """``name`` (e.g. ``dateStart``) from its zoned variant if it can be read, else
        from itself; a date sent but not placed is recorded as (field, text as sent)."""
        zoned, plain = obj.get(f"{name}Zoned"), obj.get(name)
        zoned_sent, plain_sent = zoned not in (None, ""), plain not in (None, "")
        if zoned_sent:
            instant = parse_te_datetime(zoned, self.options)
            if instant is not None:
                return instant
        if plain_sent:
            instant = parse_te_datetime(plain, self.unzoned or self.options,
                                        assume_zone=self.unzoned is not None)
            if instant is not None:
                return instant
        if zoned_sent or plain_sent:
            self.unplaced.append((name, str(zoned if zoned_sent else plain)[:200]))
        return None
