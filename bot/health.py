"""``GET /healthz``: 200 when the app and its database answer, 503 otherwise."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from bot.services import services
from bot.slack.oauth import oauth_enabled

blueprint = Blueprint("health", __name__)


@blueprint.route("/healthz", methods=["GET"])
def healthz() -> tuple[Response, int]:
    app_services = services(current_app)
    database_ok = app_services.database.ping()
    config = app_services.config
    slack_configured = bool(config.slack_bot_token) or oauth_enabled(config)
    body = {
        "status": "ok" if database_ok else "unavailable",
        "database": "ok" if database_ok else "unreachable",
        "slack": "configured" if slack_configured else "log-only",
    }
    return jsonify(body), 200 if database_ok else 503
