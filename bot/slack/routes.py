"""``POST /slack/events``: Slack's requests (buttons, slash commands) handed to Bolt."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request
from slack_bolt.adapter.flask import SlackRequestHandler

blueprint = Blueprint("slack", __name__)

HANDLER_KEY = "thousandeyes_bot.slack_handler"


@blueprint.route("/slack/events", methods=["POST"])
def slack_events() -> Response | tuple[Response, int]:
    handler: SlackRequestHandler | None = current_app.extensions.get(HANDLER_KEY)
    if handler is None:
        response = jsonify(
            error="not_configured",
            message="Slack interactivity is off: set SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN",
        )
        return response, 503
    return handler.handle(request)
