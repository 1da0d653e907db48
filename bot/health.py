"""``GET /healthz``: 200 when the app and its database answer and take a write, 503
otherwise, saying which part is down."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, jsonify

from bot.clock import utcnow
from bot.config import SlackMode
from bot.services import Services, services

blueprint = Blueprint("health", __name__)


def init_app(app: Flask, _services: Services) -> None:
    app.register_blueprint(blueprint)


@blueprint.route("/healthz", methods=["GET"])
def healthz() -> tuple[Response, int]:
    app_services = services(current_app)
    database = app_services.database.health(utcnow())
    config = app_services.config
    body: dict[str, object] = {
        "status": "ok" if database.ok else "unavailable",
        "database": database.state,
        "slack": "log-only" if config.slack_mode is SlackMode.LOG_ONLY else "configured",
    }
    if config.slack_app_token:  # the websocket's own state: "configured" says nothing of it
        runner = app_services.socket_mode
        body["socket_mode"] = runner.state if runner else "off"
    if database.problem:
        body["problem"] = f"database: {database.problem}"
    return jsonify(body), 200 if database.ok else 503
