"""Per-channel pacing for Slack's ~1 message/second/channel and its ``Retry-After``.

The interval counts from the moment the previous post's answer came back, not from the
slot it was given: a post that reached Slack late (a slow render, database or network)
would otherwise leave the next one less than the interval behind it, and Slack answers
429. While a reserved post is still running its channel has no next slot yet, so no
other post of this process can overtake it.

Only this process's calls are paced; several processes sharing a channel may still meet
a 429, which then blocks that channel here for as long as Slack asks.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Callable, TypeVar

T = TypeVar("T")


class ChannelPacer:
    def __init__(self, interval: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._next_post: dict[str, float] = {}  # channel -> earliest next post
        self._blocked_until: dict[str, float] = {}  # channel -> end of Retry-After
        self._reserved: Counter[str] = Counter()  # channel -> reservations not yet ended

    def snapshot(self) -> tuple[set[str], set[str]]:
        """(channels blocked by Retry-After, channels whose next post slot is not yet due)."""
        now = self._clock()
        with self._lock:
            self._forget_past(now)
            paced = set(self._next_post)
            if self._interval > 0:
                # The running post's answer has yet to set the channel's next slot.
                # With no interval there is nothing to space, so posts may overlap.
                paced |= set(self._reserved)
            return set(self._blocked_until), paced

    def reserve_post(self, channel: str) -> float:
        """Take the channel's next post slot; returns seconds to wait before posting.

        Call ``end_reservation`` when the job that posts is over, whether it posted or not.
        """
        now = self._clock()
        with self._lock:
            slot = self._slot(channel, now)
            self._next_post[channel] = slot + self._interval
            self._reserved[channel] += 1
            return slot - now

    def posted(self, channel: str) -> None:
        """A post to ``channel`` came back, answered or failed: the next waits a full interval."""
        earliest = self._clock() + self._interval
        with self._lock:
            self._next_post[channel] = max(earliest, self._next_post.get(channel, earliest))

    def end_reservation(self, channel: str) -> None:
        """The job that reserved a slot on ``channel`` is over."""
        with self._lock:
            self._reserved[channel] -= 1
            if self._reserved[channel] <= 0:
                del self._reserved[channel]

    def seconds_until_slot(self, channel: str) -> float:
        """How long until ``channel`` may be posted to again (0 when it may be now)."""
        now = self._clock()
        with self._lock:
            return self._slot(channel, now) - now

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

    def _slot(self, channel: str, now: float) -> float:
        return max(now, self._next_post.get(channel, now), self._blocked_until.get(channel, now))

    def _forget_past(self, now: float) -> None:
        for table in (self._next_post, self._blocked_until):
            for channel in [c for c, t in table.items() if t <= now]:
                del table[channel]


class JobPosts:
    """The posts one claimed job makes to its channel, spaced by the pacer.

    The first post uses the slot reserved when the job was claimed; a second one (the
    retry as plain text, or after joining the channel) waits a full interval after the
    first one's answer, which no other post of this process can take meanwhile since
    the job's reservation keeps the channel paced. Each post reports when it came back,
    even with an error: Slack may have received it.
    """

    def __init__(
        self, pacer: ChannelPacer, channel: str, sleep: Callable[[float], object] = time.sleep
    ) -> None:
        self._pacer = pacer
        self._channel = channel
        self._sleep = sleep
        self._has_posted = False

    def post(self, call: Callable[[], T]) -> T:
        if self._has_posted:
            self._sleep(self._pacer.seconds_until_slot(self._channel))
        try:
            return call()
        finally:
            self._has_posted = True
            self._pacer.posted(self._channel)
