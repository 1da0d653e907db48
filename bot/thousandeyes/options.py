"""What parsing needs to know that a payload does not say: the account's timezone.

One value, built from the configuration and passed to every parse (the webhook, the
delivery's re-read of stored alerts, custom webhooks, ``python -m bot render``), so the
parsers stay pure functions and a test can parse in any zone without touching globals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, tzinfo

from bot.thousandeyes.zones import load_timezone


@dataclass(frozen=True)
class ParseOptions:
    # The account's zone (THOUSANDEYES_TIMEZONE): unzoned dates are local times there.
    timezone: tzinfo = UTC
    # True when the operator named the zone. Only then is a local time whose zone
    # abbreviation is unknown read in it; otherwise such a date is left unplaced rather
    # than silently taken as UTC.
    timezone_configured: bool = False

    @classmethod
    def for_timezone(cls, name: str | None) -> ParseOptions:
        """Options for THOUSANDEYES_TIMEZONE ``name`` (None: not set, dates in UTC).

        Raises :class:`~bot.thousandeyes.zones.UnknownTimezone` for a wrong name.
        """
        if name is None:
            return cls()
        return cls(load_timezone(name), True)


DEFAULT_OPTIONS = ParseOptions()
