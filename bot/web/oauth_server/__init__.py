"""The service as the OAuth authorization server ThousandEyes asks for webhook tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from bot.web.services import Services


def init_app(app: Flask, app_services: Services) -> None:
    """``/oauth/*`` always answer (404 while off); the server runs with OAUTH_ADMIN_PASSWORD."""
    from bot.web.oauth_server.routes import blueprint
    from bot.web.oauth_server.server import attach_oauth_server

    app.register_blueprint(blueprint)
    if app_services.config.te_oauth_server:
        attach_oauth_server(app, app_services)
