"""Announcements: a channel is told, in a normal message, who connected or disconnected
one of its webhooks, and who snoozed a rule or cancelled a snooze.

A change to what a channel receives must never be silent. The announcement is an outbox
job queued in the transaction that makes the change, so it is posted once, paced with
the channel's other posts, and only if the change committed.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.db.models import JobKind
from bot.outbox.enqueue import enqueue


class Change(str, enum.Enum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    SNOOZED = "snoozed"
    SNOOZE_CANCELLED = "snooze_cancelled"


@dataclass(frozen=True)
class Announcement:
    """What the message says: the change, who made it, and what it was about. Only
    references and names, never a token: the job's data is stored as it is."""

    change: Change
    actor_id: str
    actor_name: str = ""
    route_id: str = ""  # a webhook's id
    rule_name: str = ""  # a snooze's rule, test (or agent) and end
    title: str = ""
    until: datetime | None = None
    snoozed_by_id: str = ""  # whose snooze was cancelled
    snoozed_by_name: str = ""
    # Where a snooze (or its cancel) holds, once ThousandEyes answered (bot.store.snooze_upstream).
    upstream: str = ""

    def to_data(self) -> dict[str, Any]:
        data = {key: value for key, value in asdict(self).items() if value}
        data["change"] = self.change.value
        if self.until is not None:
            data["until"] = self.until.isoformat()
        return data

    def template_context(self) -> dict[str, Any]:
        """What ``announcement.j2`` sees (docs/templates.md)."""
        return {
            "change": self.change.value,
            "actor": {"user_id": self.actor_id, "name": self.actor_name or self.actor_id},
            "route_id": self.route_id, "rule_name": self.rule_name, "title": self.title,
            "until": self.until,
            "snoozed_by": {"user_id": self.snoozed_by_id,
                           "name": self.snoozed_by_name or self.snoozed_by_id},
            "upstream": self.upstream,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Announcement:
        """Inverse of :meth:`to_data`; raises ValueError for data it did not write."""
        until = data.get("until")
        texts = {key: str(data.get(key, "")) for key in (
            "actor_id", "actor_name", "route_id", "rule_name", "title", "snoozed_by_id",
            "snoozed_by_name", "upstream")}
        return cls(change=Change(data.get("change")),
                   until=datetime.fromisoformat(until) if isinstance(until, str) else None,
                   **texts)


def announce(session: Session, announcement: Announcement, *, team_id: str | None,
             channel_id: str, now: datetime) -> None:
    """Queue the announcement in the caller's transaction, for ``channel_id`` of
    ``team_id``'s workspace (whose bot token posts it)."""
    enqueue(session, kind=JobKind.ANNOUNCEMENT, alert_id=None, channel=channel_id,
            team_id=team_id, now=now, data=announcement.to_data())
