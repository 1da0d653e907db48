"""Timezone names and the abbreviations ThousandEyes prints in ``*Zoned`` dates.

ThousandEyes writes ``dateStartZoned`` as the account's local time plus a short name:
``"2022-04-25 17:18:00 CDT"``. Short names are not unique (``IST`` is India, Ireland or
Israel; ``CST`` US Central, China or Cuba; ``BST`` British Summer Time or Bangladesh), so
each maps to the offsets it can mean, its usual meaning first.

How an abbreviation is read (:func:`abbreviation_offset`):

1. One meaning: that offset. An abbreviation names an offset, so it wins even where it
   contradicts ``THOUSANDEYES_TIMEZONE`` (``EDT`` with ``America/Chicago`` is still
   UTC-04:00): the instant stays right when the setting is wrong.
2. Several meanings: the one used in the configured zone (``IST`` with
   ``Europe/Dublin`` is +01:00), else the usual one (``IST`` with ``UTC`` is India).
3. Not in the table: the configured zone's offset if the zone calls itself that at that
   time (tzdata's own abbreviations), else unknown.
"""

from __future__ import annotations

import difflib
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo


class UnknownTimezone(ValueError):
    """Not an IANA timezone name this system knows; the message says what to write."""


@dataclass(frozen=True)
class Meaning:
    minutes: int  # offset from UTC
    zones: frozenset[str] = frozenset()  # IANA zones where this is the meaning

    @property
    def offset(self) -> timezone:
        return timezone(timedelta(minutes=self.minutes))


def _m(minutes: int, *zones: str) -> Meaning:
    return Meaning(minutes, frozenset(zones))


_US_CENTRAL = ("America/Chicago", "America/Winnipeg", "America/Mexico_City", "US/Central",
               "CST6CDT", "America/Regina", "America/Indiana/Knox", "America/Menominee")
_CHINA = ("Asia/Shanghai", "Asia/Chongqing", "Asia/Chungking", "Asia/Harbin", "Asia/Taipei",
          "Asia/Macau", "Asia/Macao", "PRC", "ROC")
_CUBA = ("America/Havana", "Cuba")
_AUSTRALIA_EAST = ("Australia/Sydney", "Australia/Melbourne", "Australia/Brisbane",
                   "Australia/Hobart", "Australia/Canberra", "Australia/ACT", "Australia/NSW",
                   "Australia/Victoria", "Australia/Queensland", "Australia/Tasmania")

# What ThousandEyes prints for its account timezones (Java's short names), tzdata's where
# they differ, and the common ones of each region. The first meaning is the usual one.
ABBREVIATIONS: dict[str, tuple[Meaning, ...]] = {
    # UTC and GMT
    "UTC": (_m(0),), "GMT": (_m(0),), "UT": (_m(0),), "Z": (_m(0),),
    # United States and Canada
    "NST": (_m(-210),), "NDT": (_m(-150),),
    "AST": (_m(-240, "America/Halifax", "America/Puerto_Rico", "Canada/Atlantic"),
            _m(180, "Asia/Riyadh", "Asia/Kuwait", "Asia/Qatar", "Asia/Bahrain", "Asia/Aden",
               "Asia/Baghdad")),
    "ADT": (_m(-180),),
    "EST": (_m(-300, "America/New_York", "America/Toronto", "US/Eastern", "EST5EDT"),
            _m(600, *_AUSTRALIA_EAST)),
    "EDT": (_m(-240),),
    "CST": (_m(-360, *_US_CENTRAL), _m(480, *_CHINA), _m(-300, *_CUBA)),
    "CDT": (_m(-300, *_US_CENTRAL), _m(-240, *_CUBA)),
    "MST": (_m(-420),), "MDT": (_m(-360),),
    "PST": (_m(-480, "America/Los_Angeles", "America/Vancouver", "US/Pacific", "PST8PDT"),
            _m(480, "Asia/Manila")),
    "PDT": (_m(-420),),
    "AKST": (_m(-540),), "AKDT": (_m(-480),),
    "HST": (_m(-600),), "HDT": (_m(-540),),
    "SST": (_m(-660, "Pacific/Pago_Pago", "Pacific/Samoa", "US/Samoa"),
            _m(480, "Asia/Singapore", "Singapore")),
    "CHST": (_m(600),),
    # Central and South America
    "BRT": (_m(-180),), "BRST": (_m(-120),), "ART": (_m(-180),), "UYT": (_m(-180),),
    "CLT": (_m(-240),), "CLST": (_m(-180),), "COT": (_m(-300),), "PET": (_m(-300),),
    "VET": (_m(-240),), "ECT": (_m(-300),), "BOT": (_m(-240),), "PYT": (_m(-240),),
    # Europe
    "WET": (_m(0),), "WEST": (_m(60),),
    "BST": (_m(60, "Europe/London", "GB", "Europe/Belfast", "Europe/Jersey",
               "Europe/Guernsey", "Europe/Isle_of_Man"),
            _m(360, "Asia/Dhaka", "Asia/Dacca")),
    "IST": (_m(330, "Asia/Kolkata", "Asia/Calcutta"),
            _m(60, "Europe/Dublin", "Eire"),
            _m(120, "Asia/Jerusalem", "Asia/Tel_Aviv", "Israel")),
    "CET": (_m(60),), "CEST": (_m(120),), "MET": (_m(60),), "MEST": (_m(120),),
    "EET": (_m(120),), "EEST": (_m(180),), "MSK": (_m(180),), "TRT": (_m(180),),
    # Africa and the Middle East
    "WAT": (_m(60),), "CAT": (_m(120),), "EAT": (_m(180),), "SAST": (_m(120),),
    "IDT": (_m(180),), "IRST": (_m(210),), "IRDT": (_m(270),),
    "GST": (_m(240, "Asia/Dubai", "Asia/Muscat"), _m(-120, "Atlantic/South_Georgia")),
    # South and East Asia
    "AFT": (_m(270),), "PKT": (_m(300),), "NPT": (_m(345),), "BDT": (_m(360),),
    "MMT": (_m(390),), "ICT": (_m(420),), "WIB": (_m(420),), "WITA": (_m(480),),
    "WIT": (_m(540),), "SGT": (_m(480),), "MYT": (_m(480),), "HKT": (_m(480),),
    "PHT": (_m(480),), "PHST": (_m(480),), "JST": (_m(540),), "KST": (_m(540),),
    # Australia and New Zealand
    "AWST": (_m(480),), "ACST": (_m(570),), "ACDT": (_m(630),),
    "AEST": (_m(600),), "AEDT": (_m(660),), "LHST": (_m(630),), "LHDT": (_m(660),),
    "NZST": (_m(720),), "NZDT": (_m(780),), "CHAST": (_m(765),), "CHADT": (_m(825),),
}

# Fixed-offset tzdata zones named like abbreviations: a user who writes them means the
# region, whose clocks change in summer.
_REGION_FOR_FIXED = {"EST": "America/New_York", "MST": "America/Denver",
                     "HST": "Pacific/Honolulu"}


def abbreviation_offset(abbreviation: str, local: datetime, zone: tzinfo) -> tzinfo | None:
    """The offset ``abbreviation`` names for the naive ``local`` time, or None if unknown.

    ``zone`` is the configured account zone; it only settles abbreviations with several
    meanings (see the module docstring).
    """
    name = abbreviation.strip().upper()
    meanings = ABBREVIATIONS.get(name)
    if meanings is None:
        return _zone_calling_itself(name, local, zone)
    if len(meanings) == 1:
        return meanings[0].offset
    key = getattr(zone, "key", None)
    for meaning in meanings:
        if key in meaning.zones:
            return meaning.offset
    used_here = _zone_calling_itself(name, local, zone)
    if used_here is not None:
        for meaning in meanings:
            if used_here.utcoffset(None) == meaning.offset.utcoffset(None):
                return meaning.offset
    return meanings[0].offset


def _zone_calling_itself(name: str, local: datetime, zone: tzinfo) -> tzinfo | None:
    """The zone's offset at ``local`` if tzdata names it ``name`` then (either side of a
    fall-back hour), else None."""
    for fold in (0, 1):
        aware = local.replace(tzinfo=zone, fold=fold)
        tzname = aware.tzname()
        if tzname and tzname.upper() == name:
            offset = aware.utcoffset()
            return timezone(offset) if offset is not None else None
    return None


def load_timezone(name: str) -> zoneinfo.ZoneInfo:
    """The IANA zone called ``name``, or :class:`UnknownTimezone` saying what to write."""
    text = name.strip()
    if text.upper() in _REGION_FOR_FIXED:
        raise UnknownTimezone(
            f"{text} is a fixed offset without daylight saving time; write the region,"
            f" e.g. {_REGION_FOR_FIXED[text.upper()]}")
    try:
        return zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        pass
    close = difflib.get_close_matches(text, sorted(zoneinfo.available_timezones()), n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    raise UnknownTimezone(f"{text[:60]!r} is not an IANA timezone name such as"
                          f" America/Chicago or Europe/Paris{hint}")
