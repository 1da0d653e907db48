"""The posts of one claimed job, spaced by the channel's interval.

Pacing between jobs lives in the database (``bot.outbox.queue``): a posting job holds
its lane while it runs, and its last answer sets the lane's next slot for every process.
Within one job a second post (the retry as plain text, or after joining the channel)
waits a full interval after the first one's answer; no other post can start meanwhile
since the job still holds the lane. Each post counts from when its answer came back, even
with an error: Slack may have received it, and a post that reached Slack late would
otherwise leave the next one less than the interval behind it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from bot.clock import utcnow
from bot.slack.gateway import Posted

T = TypeVar("T")


class JobPosts:
    def __init__(
        self, interval: float, sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], datetime] = utcnow,
        first_at: datetime | None = None,
    ) -> None:
        self._interval = interval
        self._first_at = first_at  # the lane's slot the job was claimed for
        self._sleep = sleep
        self._clock = clock
        self._wall_clock = wall_clock
        self._answered: float | None = None  # monotonic time of the last answer
        self.answered_at: datetime | None = None  # the same on the wall clock
        self.channel_id: str | None = None  # the id Slack answered with

    def post(self, call: Callable[[], T]) -> T:
        if self._answered is not None:
            wait = self._interval - (self._clock() - self._answered)
        elif self._first_at is not None:
            wait = (self._first_at - self._wall_clock()).total_seconds()
        else:
            wait = 0.0
        if wait > 0:
            self._sleep(wait)
        try:
            result = call()
        finally:
            self._answered = self._clock()
            self.answered_at = self._wall_clock()
        if isinstance(result, Posted):
            self.channel_id = result.channel
        return result

    def next_post_at(self) -> datetime | None:
        """When the channel may next be posted to (None: this job did not post)."""
        if self.answered_at is None:
            return None
        return self.answered_at + timedelta(seconds=self._interval)
