"""``/thousandeyes connect | list | disconnect``: channel routes managed from Slack.

Each function changes what it must and returns the context its ``command_*`` template
renders; no wording here.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from bot.slack.command_input import CommandInput
from bot.store.database import Database
from bot.store.routes import (
    RouteOptions,
    create_route,
    disable_route,
    is_route_id,
    routes_in_channel,
)
from bot.clock import utcnow

if TYPE_CHECKING:
    from bot.config import Config

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
    db: Database, config: "Config", given: CommandInput, words: list[str]
) -> dict[str, Any]:
    options = parse_connect_options(words)
    if isinstance(options, str):
        return {"outcome": "not_understood", "word": options}
    route, token = create_route(
        db, team_id=given.team_id, channel_id=given.channel_id, created_by=given.user_id,
        options=options, now=utcnow(),
    )
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


def list_channel_routes(db: Database, config: "Config", given: CommandInput) -> dict[str, Any]:
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
    db: Database, config: "Config", given: CommandInput, words: list[str]
) -> dict[str, Any]:
    routes = routes_in_channel(db, given.team_id, given.channel_id)
    context: dict[str, Any] = {"command": config.slack_command}
    if not words:
        if len(routes) != 1:
            return {**context, "outcome": "which_one"}
        route_id = routes[0].id
    else:
        route_id = words[0][:40]
    if not is_route_id(route_id) or not disable_route(
        db, route_id, given.team_id, given.channel_id, f"disconnected by {given.user_id}", utcnow()
    ):
        return {**context, "outcome": "not_found", "route_id": route_id}
    return {**context, "outcome": "disconnected", "route_id": route_id}


def describe_mention(mention: str) -> str:
    """A route's mention option in words. Named, not mentioned: listing webhooks must not
    ping the group."""
    if not mention:
        return "nobody"
    if mention.startswith("subteam:"):
        return f"user group {mention.split(':', 1)[1]}"
    return f"@{mention}"
