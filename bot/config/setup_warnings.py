"""Half-configured Slack, said at start in one line per problem.

Each of these starts fine and fails later, where a newcomer would not look: the first
alert dead-letters for want of a channel, a click goes nowhere, Socket Mode silently
stays off. ``serve`` and ``worker`` log them once before they begin.
"""

from __future__ import annotations

import logging

from bot.config.model import Config, SlackMode

log = logging.getLogger(__name__)


def socket_mode_problem(config: Config) -> str | None:
    """Why Socket Mode will not start although ``SLACK_APP_TOKEN`` asks for it."""
    # Many workspaces (SLACK_CLIENT_ID/SECRET) answer over the socket with each one's token.
    if config.slack_app_token and config.slack_mode is SlackMode.LOG_ONLY:
        return ("SLACK_APP_TOKEN is set but SLACK_BOT_TOKEN is not: Socket Mode needs both"
                " (the app-level xapp- token to connect, the bot's xoxb- token to answer);"
                " set SLACK_BOT_TOKEN")
    return None


def clicks_problem(config: Config) -> str | None:
    """Why Slack could not deliver button clicks and slash commands here."""
    if config.slack_mode is SlackMode.LOG_ONLY or config.clicks_arrive:
        return None
    return ("Acknowledge buttons are hidden and slash commands are off: Slack cannot reach"
            " this service without SLACK_SIGNING_SECRET (buttons over HTTP) or SLACK_APP_TOKEN"
            " (Socket Mode)")


def channel_problem(config: Config) -> str | None:
    """Why the first alert to the default webhook would be dead-lettered."""
    if config.slack_bot_token and not config.slack_channel:
        return ("SLACK_BOT_TOKEN is set but SLACK_CHANNEL is not: alerts sent to"
                " /webhooks/thousandeyes without ?channel= will be dead-lettered; set"
                " SLACK_CHANNEL=#alerts (or the channel's id)")
    return None


# Slack allows an app at most this many Socket Mode connections (too_many_websockets).
SOCKET_MODE_CONNECTIONS_PER_APP = 10


def socket_mode_connections_problem(config: Config) -> str | None:
    """Why some web workers' Socket Mode connections would be refused: each worker opens
    its own, and Slack allows an app ten."""
    workers = config.web_concurrency
    if config.slack_app_token and workers > SOCKET_MODE_CONNECTIONS_PER_APP:
        return (f"WEB_CONCURRENCY={workers} opens {workers} Socket Mode connections (one per"
                f" web worker) and Slack allows an app {SOCKET_MODE_CONNECTIONS_PER_APP}"
                " (too_many_websockets): set WEB_CONCURRENCY to"
                f" {SOCKET_MODE_CONNECTIONS_PER_APP} or fewer across all instances, or receive"
                " clicks over HTTP (SLACK_SIGNING_SECRET) instead of SLACK_APP_TOKEN")
    return None


def setup_warnings(config: Config) -> list[str]:
    problems = (socket_mode_problem(config), clicks_problem(config), channel_problem(config),
                socket_mode_connections_problem(config))
    return [problem for problem in problems if problem]


def log_setup_warnings(config: Config) -> None:
    for warning in setup_warnings(config):
        log.warning("%s", warning)
