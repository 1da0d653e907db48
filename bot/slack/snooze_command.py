"""``/thousandeyes snooze list | cancel ID``: the channel's running snoozes.

A snooze is made from a parent's overflow menu (bot.slack.interactivity); here it is
listed and ended. Only the channel it was made in sees or cancels it, and only whoever
made it or a workspace admin or owner ends it (bot.slack.permissions).
"""

from __future__ import annotations

from typing import Any

from bot.clock import utcnow
from bot.config import Config
from bot.db.database import Database
from bot.ids import parse_id
from bot.slack.command_input import CommandInput
from bot.slack.permissions import ManagePermissions
from bot.store.snoozes import cancel_snooze, channel_snoozes, running_snooze


def snooze_context(db: Database, config: Config, given: CommandInput,
                   words: list[str], permissions: ManagePermissions) -> dict[str, Any]:
    """What ``command_snooze`` shows for ``snooze [list]`` or ``snooze cancel ID``."""
    now = utcnow()
    context: dict[str, Any] = {"command": config.slack_command}
    verb = words[0].lower() if words else "list"
    if verb == "cancel":
        wanted = words[1][:20] if len(words) > 1 else ""
        snooze_id = parse_id(wanted.removeprefix("#"))
        found = (running_snooze(db, given.team_id, given.channel_id, snooze_id, now)
                 if snooze_id is not None else None)
        if found is None or snooze_id is None:
            return {**context, "outcome": "not_found", "snooze_id": wanted}
        decision = permissions.may_end(found.created_by, given)
        if not decision.allowed:
            return {**context, "outcome": "not_allowed", "snooze": _listed(found),
                    "creator": found.created_by, "permission": decision.permission.value,
                    "slack_error": decision.slack_error}
        cancelled = cancel_snooze(db, given.team_id, given.channel_id, snooze_id, now,
                                  actor_id=given.user_id, actor_name=given.user_name)
        if cancelled is None:  # ended or cancelled meanwhile
            return {**context, "outcome": "not_found", "snooze_id": wanted}
        return {**context, "outcome": "cancelled", "snooze": _listed(cancelled)}
    if verb != "list":
        return {**context, "outcome": "unknown", "verb": verb[:40]}
    snoozes = channel_snoozes(db, given.team_id, given.channel_id, now)
    return {**context, "outcome": "list", "snoozes": [_listed(row) for row in snoozes]}


def _listed(row: Any) -> dict[str, Any]:
    return {"id": row.id, "rule_name": row.rule_name or "Alert", "title": row.title,
            "until": row.until, "by": row.created_by_name or row.created_by}
