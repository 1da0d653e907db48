"""``GET /``: what this service is, what it is connected to, and the webhook URLs to
paste into ThousandEyes. Where Heroku's Deploy button lands (``success_url``).

Built from the request's host (or ``PUBLIC_URL``), the configuration's *shape* and the
database; never from a secret's value: the page is public. For the same reason it shows
no alert data: of the last events only when they arrived and their type (a type this
service does not know is not repeated: the sender chose its text). Rule, test and agent
names, channels and workspaces are for the administrator who signs in
(``bot.web.admin_page``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, Flask, current_app, render_template, request
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from bot.clock import utcnow
from bot.config import Config, SlackMode
from bot.config.setup_warnings import setup_warnings
from bot.db.models import EventRow
from bot.thousandeyes import EventType
from bot.web.services import Services, services

blueprint = Blueprint("front_page", __name__, template_folder="templates")

RECENT_EVENTS = 10
WEBHOOK_PATH = "/webhooks/thousandeyes"


UNKNOWN_TYPE = "another type"


@dataclass(frozen=True)
class RecentEvent:
    event_type: str  # a known type's name, else UNKNOWN_TYPE
    received_at: datetime


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)


@blueprint.route("/", methods=["GET"])
def front_page() -> str:
    app_services = services(current_app)
    config = app_services.config
    database = app_services.database.health(utcnow())
    base = config.public_url or request.host_url.rstrip("/")
    return render_template(
        "front_page.html",
        slack=_slack_summary(config),
        socket_mode=app_services.socket_mode.state,
        clicks_arrive=config.clicks_arrive,
        database=database,
        database_kind="SQLite" if app_services.database.is_sqlite else "PostgreSQL",
        webhook_url=base + WEBHOOK_PATH if config.default_route_has_workspace else None,
        base_url=base,
        auth=_auth_hint(config),
        warnings=setup_warnings(config),
        events=recent_events(app_services) if database.ok else [],
        admin_sign_in=app_services.admin_sessions is not None,
        command=config.slack_command,
    )


def _slack_summary(config: Config) -> str:
    if config.slack_mode is SlackMode.LOG_ONLY:
        return ("not connected: no Slack credentials, so every message is written to the"
                " service's log instead")
    if config.slack_mode is SlackMode.MULTI:
        return "installable to many workspaces (SLACK_CLIENT_ID / SLACK_CLIENT_SECRET)"
    # The channel is named by its setting, not its value: the page is public.
    return "posting with a bot token (SLACK_BOT_TOKEN)" + (
        " to the channel in SLACK_CHANNEL by default" if config.slack_channel else "")


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
    """When the latest events arrived and of which type, newest first."""
    statement = (select(EventRow.event_type, EventRow.received_at)
                 .order_by(EventRow.id.desc()).limit(RECENT_EVENTS))
    try:
        with app_services.database.session() as session:
            rows = session.execute(statement).all()
    except SQLAlchemyError:
        return []  # the database health above already says what is wrong
    return [RecentEvent(row.event_type if row.event_type in EventType.__members__
                        else UNKNOWN_TYPE, row.received_at) for row in rows]
