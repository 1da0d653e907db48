"""What a slash command invocation carries, as the command handlers need it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CommandInput:
    text: str
    channel_id: str
    team_id: str | None
    user_id: str
    user_name: str = ""  # what announcements fall back to when the id is not a user id
