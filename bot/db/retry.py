"""Retrying a short database write that must not be lost after a Slack call succeeded.

If recording a posted message's ts failed, the job would run again and post twice; a
database blip of a few seconds is worth waiting out instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)

T = TypeVar("T")
_DELAYS = (0.1, 0.3, 1.0, 2.0, 4.0, 8.0)


def with_db_retries(write: Callable[[], T], what: str) -> T:
    """Run ``write``, retrying database errors for about 15 seconds, then re-raise."""
    for delay in _DELAYS:
        try:
            return write()
        except SQLAlchemyError as error:
            log.warning("%s failed (%s); retrying in %.1fs", what, error.__class__.__name__, delay)
            time.sleep(delay)
    return write()
