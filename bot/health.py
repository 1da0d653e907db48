"""``GET /healthz``: 200 when the app and its database answer, 503 otherwise."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from bot.config import SlackMode
from bot.services import services

blueprint = Blueprint("health", __name__)


@blueprint.route("/healthz", methods=["GET"])
def healthz() -> tuple[Response, int]:
    app_services = services(current_app)
    database_ok = app_services.database.ping()
    config = app_services.config
    body = {
        "status": "ok" if database_ok else "unavailable",
        "database": "ok" if database_ok else "unreachable",
        "slack": "log-only" if config.slack_mode is SlackMode.LOG_ONLY else "configured",
    }
    return jsonify(body), 200 if database_ok else 503
