"""A job as a delivery thread holds it: what the claim read, and who holds it.

Its own module so the queue, the lanes and delivery share one shape without importing
each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from bot.outbox.progress import JobProgress

T = TypeVar("T")


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    kind: str
    alert_id: int | None
    event_pk: int | None
    channel: str
    attempts: int
    worker_id: str = ""
    team_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)  # the job's arguments
    progress: JobProgress = field(default_factory=JobProgress)
    lane: str = ""
    created_at: datetime | None = None
    # The id Slack answered with for this lane's channel, if a post has told us.
    lane_channel_id: str | None = None
    holds_lane: bool = False  # a posting job holds its lane until it ends
    # The lane's next post slot when the job was claimed (a claim may come a moment early,
    # so the job is ready to post at the slot): its first post waits until then.
    post_at: datetime | None = None
    # An earlier attempt may have posted this job's message: its answer was lost.
    uncertain: bool = False
    # ... because the process running it died mid-post (rather than seeing a timeout or
    # a 5xx): it must look before posting, even if that means waiting for Slack.
    died_in_flight: bool = False

    @property
    def hold_key(self) -> str:
        return f"{self.worker_id}/{self.id}"


@dataclass(frozen=True)
class Claim(Generic[T]):
    job: ClaimedJob | None
    # With no job: when a lane may have one next (None: no job is pending anywhere).
    next_due: datetime | None = None
    # What the claimer read for the job in the claim's transaction (bot.outbox.queue).
    read: T | None = None


def post_marker(job_id: int) -> str:
    """The marker a job's message carries in its metadata."""
    return f"job-{job_id}"
