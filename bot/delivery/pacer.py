"""Per-channel pacing for Slack's ~1 message/second/channel and its ``Retry-After``.

Only this process's calls are paced; several processes sharing a channel may still meet
a 429, which then blocks that channel here for as long as Slack asks.
"""

from __future__ import annotations

import threading
import time
from typing import Callable


class ChannelPacer:
    def __init__(self, interval: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._next_post: dict[str, float] = {}  # channel -> earliest next post
        self._blocked_until: dict[str, float] = {}  # channel -> end of Retry-After

    def snapshot(self) -> tuple[set[str], set[str]]:
        """(channels blocked by Retry-After, channels whose next post slot is not yet due)."""
        now = self._clock()
        with self._lock:
            self._forget_past(now)
            return set(self._blocked_until), set(self._next_post)

    def reserve_post(self, channel: str) -> float:
        """Take the channel's next post slot; returns seconds to wait before posting."""
        now = self._clock()
        with self._lock:
            slot = max(now, self._next_post.get(channel, now), self._blocked_until.get(channel, now))
            self._next_post[channel] = slot + self._interval
            return slot - now

    def block(self, channel: str, seconds: float) -> None:
        """Slack answered 429: no call to this channel for ``seconds``."""
        until = self._clock() + seconds
        with self._lock:
            self._blocked_until[channel] = max(until, self._blocked_until.get(channel, 0.0))

    def seconds_until_next_change(self, default: float) -> float:
        """How long a idle worker may sleep before some channel frees up."""
        now = self._clock()
        with self._lock:
            times = list(self._next_post.values()) + list(self._blocked_until.values())
        future = [t - now for t in times if t > now]
        return min([default, *future]) if future else default

    def _forget_past(self, now: float) -> None:
        for table in (self._next_post, self._blocked_until):
            for channel in [c for c, t in table.items() if t <= now]:
                del table[channel]
