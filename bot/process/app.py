"""The Flask app factory: everything is built here from an injected :class:`Config`."""

from __future__ import annotations

import logging
from typing import cast

from flask import Flask, Response, jsonify
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from bot.clock import utcnow
from bot.config import Config
from bot.db.database import Database
from bot.metrics import http as metrics_http
from bot.metrics.counters import Metrics
from bot.outbox.wakeup import JobWakeup
from bot.render import MessageRenderer
from bot.slack import routes as slack_routes
from bot.slack.interactivity import build_listeners
from bot.slack.oauth import build_installation_store
from bot.slack.token_check import BotTokenCheck
from bot.store.group_commit import GroupCommitter
from bot.web import admin_page, front_page, health, webhook
from bot.web.admin_session import AdminSessions
from bot.web.body_limits import BodyLimits, body_limit
from bot.web.oauth_server import routes as oauth_routes
from bot.web.oauth_server.clients import token_is_valid
from bot.web.oauth_server.csrf import ConsentForms
from bot.web.oauth_server.server import build_oauth_server
from bot.web.proxies import TrustedProxies
from bot.web.services import EXTENSION_KEY, AppCore, Oauth, Services
from bot.web.webhook_auth import WebhookCredentials

log = logging.getLogger(__name__)


def create_app(
    config: Config | None = None,
    *,
    database: Database | None = None,
    migrate: bool = True,
) -> Flask:
    """Build the app. ``config`` defaults to the environment (and ``.env``).

    Migrations are applied here so a fresh database works on first start; pass
    ``migrate=False`` where a release phase has already applied them.
    """
    config = config or Config.from_env()
    database = database or Database(config.database_url, config.sqlite_synchronous)
    if migrate:
        database.upgrade()

    app = Flask(__name__)
    cast(DefaultJSONProvider, app.json).sort_keys = False  # Flask's own provider, typed as its base
    if config.trusted_proxy_hops:
        # Only the hops we were told about may name the client (bot.web.proxies).
        app.wsgi_app = TrustedProxies(  # type: ignore[method-assign]
            app.wsgi_app, config.trusted_proxy_hops)
    # Outermost: no body reaches anything (Bolt, Authlib, views) past its route's limit.
    app.wsgi_app = BodyLimits(  # type: ignore[method-assign]
        app.wsgi_app, lambda path: body_limit(path, config.webhook_max_body_bytes))
    credentials = WebhookCredentials(
        config.webhook_token, config.webhook_basic_auth,
        oauth_token_valid=(
            (lambda token: token_is_valid(database, token, utcnow()))
            if config.te_oauth_server else None
        ),
    )
    core = AppCore(
        config=config, database=database,
        renderer=MessageRenderer(config.templates_dir, clicks_arrive=config.shows_click_buttons),
        installation_store=build_installation_store(config, database),
        jobs_waiting=JobWakeup(),
    )
    bolt, slack_handler = build_listeners(core)
    metrics = Metrics()
    app.extensions[EXTENSION_KEY] = Services(
        **vars(core), webhook_credentials=credentials, bolt=bolt, slack_handler=slack_handler,
        oauth=(Oauth(server=build_oauth_server(app, config, database),
                     consent_forms=ConsentForms(database),
                     admin_sessions=AdminSessions(database))
               if config.te_oauth_server else None),
        metrics=metrics,
        group_commit=GroupCommitter(database) if config.webhook_group_commit else None,
        bot_token_check=BotTokenCheck.for_config(config),
    )
    for subsystem in (webhook, health, front_page):
        subsystem.init_app(app)
    # /slack/* and /oauth/* always answer (503 or 404 while they are off).
    app.register_blueprint(slack_routes.blueprint)
    app.register_blueprint(oauth_routes.blueprint)
    admin_page.init_app(app)
    metrics_http.init_app(app, metrics)
    app.register_error_handler(HTTPException, _json_http_error)

    if credentials.open:
        log.warning(
            "WEBHOOK ENDPOINT IS OPEN: none of WEBHOOK_TOKEN, WEBHOOK_BASIC_AUTH and"
            " OAUTH_ADMIN_PASSWORD is set, so anyone who can reach /webhooks/thousandeyes"
            " can post alerts"
        )
    return app


def _json_http_error(error: HTTPException) -> tuple[Response, int]:
    """Every error answer is JSON that says what is wrong, never an HTML page."""
    messages = {
        405: "method not allowed; ThousandEyes webhooks are POST requests",
        413: "the body is larger than the configured limit (WEBHOOK_MAX_BODY_BYTES)",
    }
    status = error.code or 500
    response = jsonify(
        error=(error.name or "error").lower().replace(" ", "_"),
        message=messages.get(status, error.description),
    )
    valid_methods = getattr(error, "valid_methods", None)
    if status == 405 and valid_methods:
        response.headers["Allow"] = ", ".join(valid_methods)
    return response, status
