"""Slack's per-minute limits as the fake Slack keeps them: calls counted in a sliding window.

One ``CallWindows`` per limited method family: the calls each key (a token, a workspace)
made in the last ``window`` seconds. A call past ``limit`` of them is refused, not counted,
and told how long until the oldest one leaves the window (Slack's ``Retry-After``).
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any


class CallWindows:
    def __init__(self) -> None:
        self._calls: dict[Hashable, list[float]] = {}

    def refusal(self, key: Hashable, at: float, limit: int | None, window: float) -> Any:
        """None when the call at ``at`` is within ``limit`` (it is counted); else Slack's
        answer to it: 429 ``ratelimited`` with ``Retry-After`` in whole seconds."""
        if limit is None:
            return None
        recent = [t for t in self._calls.get(key, []) if at - t < window]
        if len(recent) >= limit:
            wait = window - (at - recent[0])
            return (429, {"ok": False, "error": "ratelimited"},
                    {"Retry-After": f"{max(1, math.ceil(wait))}"})
        self._calls[key] = recent + [at]
        return None
