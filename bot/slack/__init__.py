"""Talking to Slack: the Web API (and not talking to it, in log-only mode), and Slack's
requests (buttons, slash commands, installs) handed to Bolt."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from bot.services import Services

log = logging.getLogger(__name__)


def init_app(app: Flask, app_services: Services) -> None:
    """``/slack/*`` always answer; Bolt listens once the service can post (a bot token or
    many workspaces) and Slack can reach it (a signing secret, or Socket Mode)."""
    # Imported here: the delivery worker uses bot.slack's gateway without Bolt.
    from slack_bolt.adapter.flask import SlackRequestHandler

    from bot.slack.interactivity import build_bolt_app
    from bot.slack.routes import blueprint
    from bot.slack.token_check import BotTokenCheck

    app.register_blueprint(blueprint)
    config = app_services.config
    app_services.bot_token_check = BotTokenCheck.for_config(config)
    if not config.clicks_arrive:
        # Half-configured Slack is a warning at start (bot.setup_warnings); this says why
        # these requests get 503.
        log.info("Slack buttons and commands are off: they need SLACK_BOT_TOKEN and"
                 " SLACK_SIGNING_SECRET (HTTP) or SLACK_BOT_TOKEN and SLACK_APP_TOKEN"
                 " (Socket Mode)")
        return
    app_services.bolt = build_bolt_app(app_services)
    if config.slack_signing_secret:
        # Only signed requests reach the listeners over HTTP.
        app_services.slack_handler = SlackRequestHandler(app_services.bolt)
