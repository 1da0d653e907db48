"""What a job has done so far, as a typed record, kept apart from the job's arguments.

A job's Slack calls are recorded as they succeed, so a retried job resumes where it
stopped instead of posting twice; and a post whose answer may not have arrived is marked
before it is sent, so the next attempt knows to look for it (``bot.delivery.handlers``).
Stored as JSON in ``outbox_jobs.progress``; arguments stay in ``outbox_jobs.data``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass
class JobProgress:
    # The marker of the post this attempt may make, and when it started (epoch seconds):
    # set when the job is claimed, cleared once the post's answer arrived.
    in_flight: str | None = None
    in_flight_since: float | None = None
    # The attempt saw that answer lost (a timeout, a 5xx) and recorded it. A post still in
    # flight without this was cut short by the process dying.
    answer_lost: bool = False
    reply_ts: str | None = None  # the clear's threaded reply, once posted
    note_ts: str | None = None  # the re-trigger note, once posted
    # The clear of an alert listed in a roll-up was handed to its storm's notes
    # (bot.store.storm_notes), in the transaction that recorded this.
    handed_to_storm: bool = False

    @classmethod
    def from_json(cls, value: Any) -> JobProgress:
        """Read what was stored; unknown or ill-typed entries are left out."""
        if not isinstance(value, dict):
            return cls()
        known = {f.name: f.type for f in fields(cls)}
        kept: dict[str, Any] = {}
        for name, item in value.items():
            if name not in known or item is None:
                continue
            if name in ("answer_lost", "handed_to_storm"):
                kept[name] = bool(item)
            elif name == "in_flight_since" and isinstance(item, (int, float)):
                kept[name] = float(item)
            elif name != "in_flight_since" and isinstance(item, str):
                kept[name] = item
        return cls(**kept)

    def to_json(self) -> dict[str, Any]:
        # Every field is a plain value: no copy of them (dataclasses.asdict's) is needed.
        return {name: value for name in _NAMES
                if (value := getattr(self, name)) not in (None, False)}

    def settle(self) -> None:
        """The post was answered (or never made): nothing of it is in flight."""
        self.in_flight = None
        self.in_flight_since = None
        self.answer_lost = False


_NAMES = tuple(f.name for f in fields(JobProgress))
