"""Block Kit action ids and button values, defined once with a symmetric codec.

The button value carries only a reference to the stored alert. Handlers look the alert up
and trust the database, never the rest of the click.
"""

from __future__ import annotations

from bot.ids import parse_id

ACKNOWLEDGE = "te_acknowledge"
UNACKNOWLEDGE = "te_unacknowledge"
VIEW_IN_THOUSANDEYES = "te_view"
SNOOZE = "te_snooze"  # the parent's overflow menu: snooze this rule on this test
SNOOZE_HOURS = (1, 4, 24)
# On a storm roll-up: acknowledge every open alert of it, or the one picked from a menu
# (whose options carry alert references).
ACKNOWLEDGE_ALL = "te_acknowledge_all"
ACKNOWLEDGE_ONE = "te_acknowledge_one"

_PREFIX = "alert:"


def encode_alert_ref(alert_pk: int) -> str:
    return f"{_PREFIX}{alert_pk}"


def decode_alert_ref(value: str) -> int:
    """Inverse of :func:`encode_alert_ref`; raises ValueError on anything else."""
    return _decode(_PREFIX, value, "an alert")


_STORM_PREFIX = "storm:"


def encode_storm_ref(storm_pk: int) -> str:
    return f"{_STORM_PREFIX}{storm_pk}"


def decode_storm_ref(value: str) -> int:
    """Inverse of :func:`encode_storm_ref`; raises ValueError on anything else."""
    return _decode(_STORM_PREFIX, value, "a storm")


def _decode(prefix: str, value: str, what: str) -> int:
    if not isinstance(value, str) or not value.startswith(prefix):
        raise ValueError(f"not {what} reference: {value!r:.60}")
    number = parse_id(value[len(prefix):])
    if number is None:
        raise ValueError(f"not {what} reference: {value!r:.60}")
    return number


def encode_snooze_choice(alert_pk: int, hours: int) -> str:
    """The value of one overflow option: which alert, for how many hours."""
    return f"{encode_alert_ref(alert_pk)}|{hours}h"


def decode_snooze_choice(value: str) -> tuple[int, int]:
    """Inverse of :func:`encode_snooze_choice`; raises ValueError on anything else,
    hours not offered included."""
    ref, sep, hours = value.partition("|") if isinstance(value, str) else ("", "", "")
    if not sep or hours not in {f"{h}h" for h in SNOOZE_HOURS}:
        raise ValueError(f"not a snooze choice: {value!r:.60}")
    return decode_alert_ref(ref), int(hours[:-1])


# The action ids a parent's template sees as ``actions`` (``actions.acknowledge``, …).
TEMPLATE_ACTION_IDS = {
    "acknowledge": ACKNOWLEDGE,
    "unacknowledge": UNACKNOWLEDGE,
    "view": VIEW_IN_THOUSANDEYES,
    "snooze": SNOOZE,
}


def alert_pk_of(value: str) -> int | None:
    """The alert a reference names, or None when ``value`` is not an alert reference
    (a template context read defensively, as the fallback does)."""
    try:
        return decode_alert_ref(value)
    except ValueError:
        return None
