"""Slack's requests handed to Bolt: ``POST /slack/events`` (events, buttons, slash
commands) and, in multi-workspace mode, ``GET /slack/install`` and
``GET /slack/oauth_redirect`` (Bolt answers 404 for those two in single-workspace mode)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request
from slack_bolt.adapter.flask import SlackRequestHandler

blueprint = Blueprint("slack", __name__)

HANDLER_KEY = "thousandeyes_bot.slack_handler"


@blueprint.route("/slack/events", methods=["POST"])
@blueprint.route("/slack/install", methods=["GET"])
@blueprint.route("/slack/oauth_redirect", methods=["GET"])
def slack_events() -> Response | tuple[Response, int]:
    handler: SlackRequestHandler | None = current_app.extensions.get(HANDLER_KEY)
    if handler is None:
        response = jsonify(
            error="not_configured",
            message="Slack is not configured here: set SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN"
            " (or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET to install to many workspaces)",
        )
        return response, 503
    return handler.handle(request)
