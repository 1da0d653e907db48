"""Numbers no ThousandEyes payload holds, refused before anything reads the body.

Why here and not in each field's reader: ``1e999`` decodes to infinity, and Python's
json also reads ``NaN`` and ``Infinity`` (not JSON); SQLite stored them and Slack was
shown "inf", while PostgreSQL refused them, so one body got 200 on one database and an
anonymous 400 on the other. Ids past 64 bits are no id ThousandEyes makes (its ids are
64-bit integers, or strings such as UUIDs). One walk over the decoded body gives every
database the same answer and names the field as the sender wrote it.

Big numbers that are not ids (a count, a date) are left to their readers, which take
them as unknown rather than lose the alert.
"""

from __future__ import annotations

import math
from typing import Any

from bot.thousandeyes.models import PayloadError

_INT64_MIN, _INT64_MAX = -(2 ** 63), 2 ** 63 - 1


def check_numbers(body: Any) -> None:
    """Raise :class:`PayloadError` naming the first field that holds a non-finite
    number, or an id (``id``, ``*Id``) outside 64 bits."""
    # Iterative: a body nested as deep as json.loads allows must not exhaust the stack.
    pending: list[tuple[str, Any]] = [("", body)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, dict):
            pending.extend((_child(path, str(key)), item) for key, item in value.items())
        elif isinstance(value, list):
            pending.extend((f"{path}[{index}]", item) for index, item in enumerate(value))
        elif isinstance(value, float) and not math.isfinite(value):
            raise PayloadError(f"'{path or 'body'}' is not a finite number (NaN, Infinity, or"
                               " one too large to hold, such as 1e999)")
        elif _is_id(path) and isinstance(value, (int, float)) and not isinstance(value, bool) \
                and not _INT64_MIN <= value <= _INT64_MAX:
            raise PayloadError(f"'{path}' is an id past 64 bits; ThousandEyes ids are"
                               " 64-bit integers or strings")


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _is_id(path: str) -> bool:
    name = path.rsplit(".", 1)[-1]
    return name == "id" or name.endswith("Id")
