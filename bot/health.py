"""``GET /healthz``: 200 when the app and its database answer and take a write, 503
otherwise, saying which part is down."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from bot.services import services
from bot.slack.oauth import oauth_enabled
from bot.thousandeyes import utcnow

blueprint = Blueprint("health", __name__)


@blueprint.route("/healthz", methods=["GET"])
def healthz() -> tuple[Response, int]:
    app_services = services(current_app)
    database = app_services.database.health(utcnow())
    config = app_services.config
    slack_configured = bool(config.slack_bot_token) or oauth_enabled(config)
    body: dict[str, object] = {
        "status": "ok" if database.ok else "unavailable",
        "database": database.state,
        "slack": "configured" if slack_configured else "log-only",
    }
    if database.problem:
        body["problem"] = f"database: {database.problem}"
    return jsonify(body), 200 if database.ok else 503
