"""Database ids written as text, in a command's argument or a button's value.

``str.isdigit`` is not the test for them: it accepts ``²`` (which ``int`` refuses, a 500)
and the digits of other scripts (which ``int`` reads: ``١`` is 1), and ``int`` alone
also takes ``+1``, ``1_0`` and surrounding spaces. An id is ASCII digits and nothing
else, at most 18 of them so that it fits a 64-bit column.
"""

from __future__ import annotations

import re

_ID = re.compile(r"[0-9]{1,18}", re.ASCII)


def parse_id(text: str) -> int | None:
    """The id ``text`` spells, or None when it spells none."""
    return int(text) if isinstance(text, str) and _ID.fullmatch(text) else None
