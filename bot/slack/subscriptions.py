"""``/thousandeyes connect | list | disconnect``: channel routes managed from Slack.

Each function changes what it must and returns the context its ``command_*`` template
renders; no wording here. A route is disconnected only by whoever connected it or a
workspace admin or owner (bot.slack.permissions); both changes are announced in the
channel by the store.
"""

from __future__ import annotations

import re
from typing import Any

from bot.clock import utcnow
from bot.config import Config
from bot.db.database import Database
from bot.slack.command_input import CommandInput
from bot.slack.permissions import ManagePermissions
from bot.store.routes import (
    MAX_ROUTES_PER_CHANNEL,
    RouteOptions,
    active_route_in_channel,
    create_route,
    disable_route,
    routes_in_channel,
)

# Slack escapes mentions in command text when the command has should_escape: true.
_SUBTEAM = re.compile(r"^<!subteam\^(S[A-Z0-9]{2,20})(\|[^>]*)?>$")
_MENTION_WORDS = {"@here": "here", "<!here>": "here", "here": "here",
                  "@channel": "channel", "<!channel>": "channel", "channel": "channel",
                  "none": "", "nobody": ""}
_BROADCAST_WORDS = {"broadcast", "broadcast-clears", "--broadcast-clears"}


def parse_connect_options(words: list[str]) -> RouteOptions | str:
    """Route options from the words after ``connect``, or the word not understood."""
    mention = ""
    broadcast = False
    for word in words:
        lowered = word.lower()
        subteam = _SUBTEAM.match(word)
        if lowered in _MENTION_WORDS:
            mention = _MENTION_WORDS[lowered]
        elif subteam:
            mention = f"subteam:{subteam.group(1)}"
        elif lowered in _BROADCAST_WORDS:
            broadcast = True
        else:
            return word[:60]
    return RouteOptions(mention=mention, broadcast_clears=broadcast)


def connect_channel(
    db: Database, config: Config, given: CommandInput, words: list[str]
) -> dict[str, Any]:
    options = parse_connect_options(words)
    if isinstance(options, str):
        return {"outcome": "not_understood", "word": options}
    created = create_route(
        db, team_id=given.team_id, channel_id=given.channel_id, created_by=given.user_id,
        created_by_name=given.user_name, options=options, now=utcnow(),
    )
    if created is None:
        return {"outcome": "channel_full", "limit": MAX_ROUTES_PER_CHANNEL,
                "command": config.slack_command}
    route, token = created
    path = f"/webhooks/thousandeyes/{route.id}"
    return {
        "outcome": "connected",
        "url": f"{config.public_url}{path}" if config.public_url else path,
        "public_url_known": bool(config.public_url),
        "token": token,
        "route_id": route.id,
        "mention": describe_mention(options.mention),
        "broadcast_clears": options.broadcast_clears,
    }


def list_channel_routes(db: Database, config: Config, given: CommandInput) -> dict[str, Any]:
    routes = routes_in_channel(db, given.team_id, given.channel_id)
    return {
        "command": config.slack_command,
        "routes": [
            {"id": route.id, "created_by": route.created_by,
             "created_on": route.created_at.strftime("%Y-%m-%d"),
             "mention": describe_mention(route.mention),
             "broadcast_clears": route.broadcast_clears}
            for route in routes
        ],
    }


def disconnect_route(
    db: Database, config: Config, given: CommandInput, words: list[str],
    permissions: ManagePermissions,
) -> dict[str, Any]:
    context: dict[str, Any] = {"command": config.slack_command}
    if not words:
        routes = routes_in_channel(db, given.team_id, given.channel_id)
        if len(routes) != 1:
            return {**context, "outcome": "which_one"}
        route_id = routes[0].id
    else:
        route_id = words[0][:40]
    context["route_id"] = route_id
    route = active_route_in_channel(db, route_id, given.team_id, given.channel_id)
    if route is None:
        return {**context, "outcome": "not_found"}
    decision = permissions.may_end(route.created_by, given)
    if not decision.allowed:
        return {**context, "outcome": "not_allowed", "creator": route.created_by,
                "permission": decision.permission.value, "slack_error": decision.slack_error}
    if not disable_route(db, route_id, given.team_id, given.channel_id,
                         actor_id=given.user_id, actor_name=given.user_name, now=utcnow()):
        return {**context, "outcome": "not_found"}  # someone else disconnected it meanwhile
    return {**context, "outcome": "disconnected"}


def describe_mention(mention: str) -> str:
    """A route's mention option in words. Named, not mentioned: listing webhooks must not
    ping the group."""
    if not mention:
        return "nobody"
    if mention.startswith("subteam:"):
        return f"user group {mention.split(':', 1)[1]}"
    return f"@{mention}"
