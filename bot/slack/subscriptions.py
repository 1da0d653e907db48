"""``/thousandeyes connect | list | disconnect``: channel routes managed from Slack."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from bot.render.escaping import escape_mrkdwn
from bot.store.database import Database
from bot.store.routes import (
    RouteOptions,
    create_route,
    disable_route,
    is_route_id,
    routes_in_channel,
)
from bot.thousandeyes import utcnow

if TYPE_CHECKING:
    from bot.config import Config
    from bot.slack.commands import CommandInput

Answer = tuple[str, "list[dict[str, Any]] | None"]

# Slack escapes mentions in command text when the command has should_escape: true.
_SUBTEAM = re.compile(r"^<!subteam\^(S[A-Z0-9]{2,20})(\|[^>]*)?>$")
_MENTION_WORDS = {"@here": "here", "<!here>": "here", "here": "here",
                  "@channel": "channel", "<!channel>": "channel", "channel": "channel",
                  "none": "", "nobody": ""}
_BROADCAST_WORDS = {"broadcast", "broadcast-clears", "--broadcast-clears"}


def parse_connect_options(words: list[str]) -> RouteOptions | str:
    """Route options from the words after ``connect``, or a message saying what is wrong."""
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
            return (f"I don't understand `{escape_mrkdwn(word[:60])}`. Mention @here, @channel,"
                    " a user group or none, and add `broadcast` to show clears in the channel.")
    return RouteOptions(mention=mention, broadcast_clears=broadcast)


def connect_channel(db: Database, config: "Config", given: "CommandInput", words: list[str]) -> Answer:
    options = parse_connect_options(words)
    if isinstance(options, str):
        return options, None
    route, token = create_route(
        db, team_id=given.team_id, channel_id=given.channel_id, created_by=given.user_id,
        options=options, now=utcnow(),
    )
    path = f"/webhooks/thousandeyes/{route.id}"
    url = f"{config.public_url}{path}" if config.public_url else path
    where = "" if config.public_url else (
        "\n_(Prefix it with this service's public address; set PUBLIC_URL to have it shown.)_")
    text = (
        "🔗 *ThousandEyes webhook for this channel*\n"
        f"*URL:* `{url}`{where}\n"
        "*Auth type:* Token\n"
        f"*Token:* `{token}`\n"
        "This token is shown only now: paste both into ThousandEyes"
        " (Alerts → Alert Rules → Notifications → Webhooks), then press *Test*.\n"
        f"Mention on trigger: {_describe_mention(options.mention)} ·"
        f" clears {'shown in the channel' if options.broadcast_clears else 'in the thread only'}"
        f" · id `{route.id}`"
    )
    return text, None


def list_channel_routes(db: Database, config: "Config", given: "CommandInput") -> Answer:
    routes = routes_in_channel(db, given.team_id, given.channel_id)
    if not routes:
        return (f"This channel has no webhooks of its own. `{config.slack_command} connect`"
                " makes one."), None
    lines = [
        f"• `{route.id}` by <@{route.created_by}> on {route.created_at:%Y-%m-%d} · mention:"
        f" {_describe_mention(route.mention)} · clears"
        f" {'broadcast' if route.broadcast_clears else 'in thread'}"
        for route in routes
    ]
    return "*Webhooks of this channel*\n" + "\n".join(lines), None


def disconnect_route(
    db: Database, config: "Config", given: "CommandInput", words: list[str]
) -> Answer:
    routes = routes_in_channel(db, given.team_id, given.channel_id)
    if not words:
        if len(routes) != 1:
            return (f"Which one? `{config.slack_command} disconnect ID`; "
                    f"`{config.slack_command} list` shows the ids."), None
        route_id = routes[0].id
    else:
        route_id = words[0]
    if not is_route_id(route_id) or not disable_route(
        db, route_id, given.team_id, given.channel_id, f"disconnected by {given.user_id}", utcnow()
    ):
        return f"No webhook `{escape_mrkdwn(route_id[:40])}` in this channel.", None
    return (f"Disconnected webhook `{route_id}`: ThousandEyes now gets 410 Gone from it;"
            " remove it from your alert rules."), None


def _describe_mention(mention: str) -> str:
    if not mention:
        return "nobody"
    if mention.startswith("subteam:"):
        # Named, not mentioned: listing webhooks must not ping the group.
        return f"user group {mention.split(':', 1)[1]}"
    return f"@{mention}"
