"""The slash command (``/thousandeyes status`` and ``help``) as a plain function."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.alert_view import DisplayState
from bot.config import Config
from bot.render.escaping import date, escape_mrkdwn, safe_url, unescape_safe
from bot.render.timefmt import human_duration, seconds_between
from bot.store.alerts import open_alerts_in_channel
from bot.store.database import Database
from bot.slack.subscriptions import connect_channel, disconnect_route, list_channel_routes
from bot.thousandeyes import utcnow

_STATE_EMOJI = {DisplayState.TRIGGERED: "🔴", DisplayState.ACKNOWLEDGED: "🟠"}
MAX_LISTED = 20


@dataclass(frozen=True)
class CommandInput:
    text: str
    channel_id: str
    team_id: str | None
    user_id: str


def command_response(
    db: Database, config: Config, given: CommandInput
) -> tuple[str, list[dict[str, Any]] | None]:
    """What the user sees (only them) after typing the command in a channel."""
    words = given.text.strip().split()
    verb = words[0].lower() if words else "status"
    if verb == "status":
        return _status(db, config, given.channel_id)
    if verb == "connect":
        return connect_channel(db, config, given, words[1:])
    if verb == "list":
        return list_channel_routes(db, config, given)
    if verb == "disconnect":
        return disconnect_route(db, config, given, words[1:])
    return _help(config.slack_command, unknown=None if verb == "help" else verb)


def _status(
    db: Database, config: Config, channel_id: str
) -> tuple[str, list[dict[str, Any]] | None]:
    alerts = open_alerts_in_channel(db, channel_id, options=config.parse_options(),
                                    limit=MAX_LISTED + 1)
    if not alerts:
        return "✅ No open ThousandEyes alerts in this channel.", None
    now = utcnow()
    lines = []
    for row, view in alerts[:MAX_LISTED]:
        name = escape_mrkdwn((row.rule_name or "Alert")[:150])
        subject = escape_mrkdwn(row.title[:150])
        title = f"*{name}*" + (f" on {subject}" if subject else "")
        url = escape_mrkdwn(safe_url(row.permalink))
        if url:
            title += f" · <{url}|ThousandEyes>"
        opened = view.triggered_at or view.first_seen_at
        age = human_duration(seconds_between(opened, now))
        state = _STATE_EMOJI[view.state] + " " + view.state.value.capitalize()
        who = ", ".join(escape_mrkdwn(r.user_name) for r in view.responders)
        parts = [f"{state} · open for {age} (since {unescape_safe(date(opened))})"]
        if view.stale_since is not None:
            quiet = human_duration(seconds_between(view.last_event_at, now))
            parts.append(f"⏳ no news from ThousandEyes for {quiet}")
        if who:
            parts.append(f"responding: {who}")
        if row.slack_ts:
            parts.append(f"<https://slack.com/app_redirect?channel={channel_id}&message_ts={row.slack_ts}|thread>")
        lines.append(f"{title}\n{' · '.join(parts)}")
    more = len(alerts) - MAX_LISTED
    header = f"*{min(len(alerts), MAX_LISTED)}{'+' if more > 0 else ''} open ThousandEyes alert(s) in this channel*"
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": header}}]
    blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": line[:3000]}} for line in lines]
    return f"{len(alerts[:MAX_LISTED])} open ThousandEyes alert(s) in this channel", blocks


def _help(command: str, unknown: str | None) -> tuple[str, list[dict[str, Any]] | None]:
    intro = f"I don't know `{escape_mrkdwn(unknown[:40])}`. " if unknown else ""
    text = (
        f"{intro}ThousandEyes alerts commands:\n"
        f"• `{command} status`: the open alerts in this channel, who is responding, links\n"
        f"• `{command} connect [@here|@channel|@user-group|none] [broadcast]`: a webhook URL"
        " and token for this channel (mention on triggers; also show clears in the channel)\n"
        f"• `{command} list`: this channel's webhooks\n"
        f"• `{command} disconnect ID`: stop a webhook\n"
        f"• `{command} help`: this help\n"
        "Click *Acknowledge* on an alert to tell your team you are on it;"
        " *Unacknowledge* takes it back."
    )
    return text, None
