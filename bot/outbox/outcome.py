"""What became of one run of a job: done, to be retried at a time, or dead.

Plain records, so the queue can store an outcome without knowing how it was decided
(``bot.delivery.outcome.decide`` turns what a run raised into one of these).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Done:
    pass


@dataclass(frozen=True)
class Retry:
    delay: float
    reason: str
    waiting_for: str | None = None  # a WaitingFor value
    counts: bool = True  # a failed attempt; a 429 is not one (nothing was posted)


@dataclass(frozen=True)
class Dead:
    reason: str


Outcome = Done | Retry | Dead
