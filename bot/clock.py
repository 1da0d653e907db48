"""The one clock: aware UTC ``now``, so every timestamp the service stores compares with
every other (and tests can see where time comes from)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
