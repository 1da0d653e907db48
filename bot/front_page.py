"""``GET /``: what this service is, what it is connected to, and the webhook URLs to
paste into ThousandEyes. Where Heroku's Deploy button lands (``success_url``).

Built from the request's host (or ``PUBLIC_URL``), the configuration's *shape* and the
database; never from a secret's value: the page is public. Jinja autoescapes it, so
names from payloads (the last events) cannot inject markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, Flask, current_app, render_template, request
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from bot.clock import utcnow
from bot.config import Config, SlackMode
from bot.services import Services, services
from bot.setup_warnings import setup_warnings
from bot.store.models import AlertRow, EventRow

blueprint = Blueprint("front_page", __name__, template_folder="templates")

RECENT_EVENTS = 10
WEBHOOK_PATH = "/webhooks/thousandeyes"


@dataclass(frozen=True)
class RecentEvent:
    event_type: str
    alert: str
    received_at: datetime


def init_app(app: Flask, _services: Services) -> None:
    app.register_blueprint(blueprint)


@blueprint.route("/", methods=["GET"])
def front_page() -> str:
    app_services = services(current_app)
    config = app_services.config
    database = app_services.database.health(utcnow())
    base = config.public_url or request.host_url.rstrip("/")
    runner = app_services.socket_mode
    return render_template(
        "front_page.html",
        slack=_slack_summary(config),
        socket_mode=runner.state if runner else None,
        clicks_arrive=config.clicks_arrive,
        database=database,
        database_kind="SQLite" if app_services.database.is_sqlite else "PostgreSQL",
        webhook_url=base + WEBHOOK_PATH if config.default_route_has_workspace else None,
        base_url=base,
        auth=_auth_hint(config),
        warnings=setup_warnings(config),
        events=recent_events(app_services) if database.ok else [],
        command=config.slack_command,
    )


def _slack_summary(config: Config) -> str:
    if config.slack_mode is SlackMode.LOG_ONLY:
        return ("not connected: no Slack credentials, so every message is written to the"
                " service's log instead")
    if config.slack_mode is SlackMode.MULTI:
        return "installable to many workspaces (SLACK_CLIENT_ID / SLACK_CLIENT_SECRET)"
    return "posting with a bot token (SLACK_BOT_TOKEN)" + (
        f" to {config.slack_channel} by default" if config.slack_channel else "")


def _auth_hint(config: Config) -> str:
    """Which ThousandEyes Auth Type to choose; names the variable, never its value."""
    if config.webhook_token:
        return "Token, with the value of WEBHOOK_TOKEN"
    if config.webhook_basic_auth:
        return "Basic, with the user and password of WEBHOOK_BASIC_AUTH"
    if config.te_oauth_server:
        return "OAuth (register a client with python -m bot oauth add-client)"
    return "None: the webhook is open to anyone; set WEBHOOK_TOKEN"


def recent_events(app_services: Services) -> list[RecentEvent]:
    """The latest events received, newest first, with the alert they belong to."""
    statement = (
        select(EventRow.event_type, EventRow.received_at, AlertRow.title, AlertRow.rule_name,
               AlertRow.alert_key)
        .outerjoin(AlertRow, EventRow.alert_id == AlertRow.id)
        .order_by(EventRow.id.desc()).limit(RECENT_EVENTS)
    )
    try:
        with app_services.database.session() as session:
            rows = session.execute(statement).all()
    except SQLAlchemyError:
        return []  # the database health above already says what is wrong
    return [RecentEvent(row.event_type, " · ".join(p for p in (row.rule_name, row.title) if p)
                        or (row.alert_key or ""), row.received_at) for row in rows]
