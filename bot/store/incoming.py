"""What the write path takes in (one webhook's event and where it goes) and what it
answers, apart from how it writes (bot.store.ingest)."""

from __future__ import annotations

import enum
import functools
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.store.reminders import ReminderPlan
from bot.thousandeyes import Event


class IngestStatus(str, enum.Enum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class IngestResult:
    status: IngestStatus
    event_pk: int | None = None
    alert_pk: int | None = None
    job_pk: int | None = None
    # When the queued job can start at the earliest (its lane may be paced), so the
    # webhook wakes a delivery thread only when there is something it can do.
    job_due_at: datetime | None = None
    # The queued job's columns (None: no job), for a batch to mark its lane ready later.
    job: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    # Accepted although its eventId was stored before with another body: the sender
    # reused an id (a mistake of theirs; the event is kept all the same).
    reused_id: bool = False


@dataclass(frozen=True)
class IncomingEvent:
    """One webhook's write: the parsed event and where it goes."""

    event: Event
    route: str
    channel: str
    body_text: str
    now: datetime
    team_id: str | None = None
    default_channel: str = ""  # SLACK_CHANNEL: only chooses the lane of a job for ''
    reminders: ReminderPlan | None = None  # REMINDER_AFTER/REPEAT (None: no reminders)
    flap_window: timedelta | None = None  # FLAP_WINDOW (bot.store.adoption)
    # Written by the ThousandEyes API sync (an ApiSync value), not a webhook: it only ever
    # adds what no webhook brought, so where a webhook got there first it writes nothing.
    api_sync: str | None = None

    @functools.cached_property
    def body_hash(self) -> str:
        return body_digest(self.event.raw)

    @property
    def dedup_key(self) -> tuple[str, str, str, str]:
        """What makes two deliveries the same event: route, channel, eventId and body."""
        return self.route, self.channel, self.event.event_id, self.body_hash


def body_digest(body: Any) -> str:
    """SHA-256 of the body's canonical JSON: a retry whose keys come in another order or
    spacing is the same body. (Migration 0013 holds a frozen copy for stored rows.)"""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
