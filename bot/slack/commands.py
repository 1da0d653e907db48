"""The slash command (``/thousandeyes status | help | connect | list | disconnect |
snooze``) as
plain functions: each verb decides what to say and a template says it.

Answers are rendered like every other message (``message_templates/command_*.j2``), so
they are escaped, kept within Block Kit limits and overridable in ``TEMPLATES_DIR``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.clock import utcnow
from bot.config import Config
from bot.db.database import Database
from bot.db.models import AlertRow
from bot.render import MessageKind, MessageRenderer, RenderedMessage
from bot.render.context import state_fields
from bot.render.escaping import safe_url
from bot.render.timefmt import human_duration, seconds_between
from bot.render.view import AlertView
from bot.slack.command_input import CommandInput
from bot.slack.permissions import ManagePermissions
from bot.slack.snooze_command import snooze_context
from bot.slack.subscriptions import connect_channel, disconnect_route, list_channel_routes
from bot.store.alerts import open_alerts_in_channel

MAX_LISTED = 20


def command_response(
    db: Database, config: Config, renderer: MessageRenderer, given: CommandInput,
    permissions: ManagePermissions,
) -> RenderedMessage:
    """What the user sees (only them) after typing the command in a channel.

    Everything is scoped to the caller's workspace and channel: a channel shared between
    organisations shows each only its own webhooks, snoozes and alerts.
    """
    words = given.text.strip().split()
    verb = words[0].lower() if words else "status"
    if verb == "status":
        return renderer.render(MessageKind.COMMAND_STATUS, status_context(
            db, config, given.channel_id, given.team_id, utcnow()))
    if verb == "connect":
        return renderer.render(MessageKind.COMMAND_CONNECT, connect_channel(db, config, given, words[1:]))
    if verb == "list":
        return renderer.render(MessageKind.COMMAND_LIST, list_channel_routes(db, config, given))
    if verb == "snooze":
        return renderer.render(MessageKind.COMMAND_SNOOZE,
                               snooze_context(db, config, given, words[1:], permissions))
    if verb == "disconnect":
        return renderer.render(MessageKind.COMMAND_DISCONNECT,
                               disconnect_route(db, config, given, words[1:], permissions))
    return renderer.render(MessageKind.COMMAND_HELP, {
        "command": config.slack_command, "unknown": None if verb == "help" else verb[:40],
    })


def status_context(
    db: Database, config: Config, channel_id: str, team_id: str | None, now: datetime
) -> dict[str, Any]:
    """The channel's open alerts of the workspace, oldest first, as ``command_status``
    shows them."""
    alerts = open_alerts_in_channel(db, channel_id, team_id, options=config.parse_options(),
                                    limit=MAX_LISTED + 1)
    return {
        "alerts": [_listed(row, view, channel_id, now) for row, view in alerts[:MAX_LISTED]],
        "more": len(alerts) > MAX_LISTED,
    }


def _listed(row: AlertRow, view: AlertView, channel_id: str, now: datetime) -> dict[str, Any]:
    opened = view.triggered_at or view.first_seen_at
    thread = (f"https://slack.com/app_redirect?channel={channel_id}&message_ts={row.slack_ts}"
              if row.slack_ts else "")
    return {
        "rule_name": row.rule_name or "Alert",
        "title": row.title,
        "permalink": safe_url(row.permalink),
        **state_fields(view.state),
        "opened_at": opened,
        "age": human_duration(seconds_between(opened, now)),
        "quiet_for": (human_duration(seconds_between(view.last_event_at, now))
                      if view.stale_since is not None else ""),
        "responders": [r.user_name for r in view.responders],
        "thread_url": thread,
    }
