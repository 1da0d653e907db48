"""What a statement's result says beyond its rows, typed."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy.engine import CursorResult, Result


def affected_rows(result: Result[Any]) -> int:
    """Rows an UPDATE, DELETE or INSERT matched.

    Session.execute is typed to return a Result, but for these statements it returns a
    CursorResult, the one that counts them.
    """
    return cast(CursorResult[Any], result).rowcount
