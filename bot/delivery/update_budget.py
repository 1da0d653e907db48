"""chat.update within Slack's budget: Tier 3, about 50 a minute per workspace, bursts allowed.

Every chat.update of a workspace takes a slot from one budget shared by every thread of
every process that delivers: the ``next_post_at`` of the workspace's updates lane
(``bot.outbox.kinds.updates_lane``), which claims of that lane already wait for. The
budget is a generic cell rate: one time per workspace, the earliest the next update may
start. Each update moves it on by ``interval``; it never lags ``now`` by more than the
burst, so a quiet workspace may make ``burst`` updates at once and then one per
``interval``. With ``burst + 60 s / interval <= per_minute``, no minute ever holds more
than ``per_minute`` updates, whoever makes them.

Updates that matter less (a storm's thread pages) leave ``keep`` slots of the burst to
the others, so a click's own refresh still lands at once while a long roll-up catches up.
A job whose slot is further off than ``max_wait`` stops (:class:`UpdateBudgetSpent`) and
is retried when the slot comes; what it already updated is recorded, so it resumes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from bot.clock import utcnow
from bot.db.database import Database
from bot.db.models import DeliveryLaneRow
from bot.outbox.kinds import updates_lane

# Slack's Tier 3: chat.update allows about 50 calls a minute per workspace.
TIER_3_PER_MINUTE = 50


class UpdateBudgetSpent(Exception):
    """The workspace's next update slot is too far off to wait for in this run."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"chat.update budget spent; next slot in {retry_after:.1f}s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class UpdateBudget:
    """The arithmetic of the budget (no clock, no database: tests give it times)."""

    calls: int = TIER_3_PER_MINUTE  # at most this many updates in any ``window``
    window: timedelta = timedelta(minutes=1)
    # Slots a quiet workspace may use at once (a wave of clears, of clicks); the rest of
    # the window is paced (a storm's pages).
    burst: int = 20
    # Slots an update of low priority leaves to the others.
    keep: int = 3

    def __post_init__(self) -> None:
        if not 0 <= self.keep < self.burst < self.calls:
            raise ValueError("an update budget needs 0 <= keep < burst < calls")

    @classmethod
    def per_minute(cls, calls: int) -> UpdateBudget:
        """The budget for ``calls`` updates a minute, two fifths of them as a burst."""
        burst = max(2, calls * 2 // 5)
        return cls(calls, timedelta(minutes=1), burst, min(3, burst - 1))

    @property
    def interval(self) -> timedelta:
        return self.window / (self.calls - self.burst)

    def slot(self, next_at: datetime, now: datetime, low_priority: bool = False) -> datetime:
        """When an update asked for at ``now`` may start, given the workspace's ``next_at``."""
        kept = self.keep * self.interval if low_priority else timedelta(0)
        return max(next_at + kept, now)

    def after(self, next_at: datetime, slot: datetime) -> datetime:
        """The workspace's ``next_at`` once an update takes ``slot``: one interval on, never
        lagging the slot by more than the burst."""
        return max(next_at, slot - (self.burst - 1) * self.interval) + self.interval


def take_update_slot(db: Database, team_id: str | None, budget: UpdateBudget, now: datetime,
                     max_wait: float, low_priority: bool = False) -> float:
    """Reserve the workspace's next update slot; returns the seconds until it (0: now).

    Raises :class:`UpdateBudgetSpent` (reserving nothing) when the slot is more than
    ``max_wait`` seconds off. The lane row is locked for the moment of the reservation,
    so two processes never take one slot.
    """
    lane = updates_lane(team_id)
    with db.session() as session:
        next_at = session.scalar(select(DeliveryLaneRow.next_post_at)
                                 .where(DeliveryLaneRow.lane == lane).with_for_update())
        if next_at is None:
            return 0.0  # no refresh job was ever queued for the workspace: nothing to pace
        slot = budget.slot(next_at, now, low_priority)
        wait = (slot - now).total_seconds()
        if wait > max_wait:
            raise UpdateBudgetSpent(wait)
        session.execute(update(DeliveryLaneRow).where(DeliveryLaneRow.lane == lane)
                        .values(next_post_at=budget.after(next_at, slot)))
    return wait


class JobUpdates:
    """The chat.update calls of one claimed job, each in its workspace's budget.

    Without a budget (log-only delivery, or SLACK_UPDATES_PER_MINUTE=0) updates go at once.
    """

    def __init__(self, db: Database, budget: UpdateBudget | None, team_id: str | None, *,
                 max_wait: float = 2.5, sleep: Callable[[float], object] = time.sleep,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._db = db
        self._budget = budget
        self._team_id = team_id
        self._max_wait = max_wait
        self._sleep = sleep
        self._clock = clock

    def before_update(self, low_priority: bool = False) -> None:
        """Wait for this update's slot; raises :class:`UpdateBudgetSpent` when it is too far."""
        if self._budget is None:
            return
        wait = take_update_slot(self._db, self._team_id, self._budget, self._clock(),
                                self._max_wait, low_priority)
        if wait > 0:
            self._sleep(wait)
