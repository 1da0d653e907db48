"""Block Kit action ids and button values, defined once with a symmetric codec.

The button value carries only a reference to the stored alert. Handlers look the alert up
and trust the database, never the rest of the click.
"""

from __future__ import annotations

ACKNOWLEDGE = "te_acknowledge"
UNACKNOWLEDGE = "te_unacknowledge"
VIEW_IN_THOUSANDEYES = "te_view"

_PREFIX = "alert:"


def encode_alert_ref(alert_pk: int) -> str:
    return f"{_PREFIX}{alert_pk}"


def decode_alert_ref(value: str) -> int:
    """Inverse of :func:`encode_alert_ref`; raises ValueError on anything else."""
    if not isinstance(value, str) or not value.startswith(_PREFIX):
        raise ValueError(f"not an alert reference: {value!r:.60}")
    number = value[len(_PREFIX):]
    if not number.isdigit() or len(number) > 18:
        raise ValueError(f"not an alert reference: {value!r:.60}")
    return int(number)
