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

import ipaddress
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, render_template, request
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from bot.clock import utcnow
from bot.config import Config, SlackMode
from bot.config.setup_warnings import setup_warnings
from bot.db.models import EventRow
from bot.store.sync_state import read_status, status_line
from bot.thousandeyes import EventType
from bot.web.services import Services, services

blueprint = Blueprint("front_page", __name__, template_folder="templates")

RECENT_EVENTS = 10
WEBHOOK_PATH = "/webhooks/thousandeyes"


UNKNOWN_TYPE = "another type"

# Where each next step is explained. The repository app.json names (a fork changes both).
README_URL = "https://github.com/YOUR-ORG/thousandeyes-slack-alerts/blob/main/README.md"


@dataclass(frozen=True)
class NextStep:
    text: str
    section: str  # the README section's title
    anchor: str  # its anchor on the README page


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
    events = recent_events(app_services) if database.ok else []
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
        warnings=setup_warnings(config) + _token_warnings(app_services),
        events=events,
        next_step=next_step(config, events),
        slack_connected=config.slack_mode is not SlackMode.LOG_ONLY,
        unreachable=unreachable_from_thousandeyes(base),
        readme=README_URL,
        admin_sign_in=app_services.admin_sessions is not None,
        command=config.slack_command,
        thousandeyes_api=api_line(app_services) if database.ok else None,
    )


def next_step(config: Config, events: list[RecentEvent]) -> NextStep:
    """What to do next, from what the page sees: Slack first (without it an alert is only
    a log line), then ThousandEyes (until an event has arrived), then the alerts."""
    if config.slack_mode is SlackMode.LOG_ONLY:
        return NextStep("connect Slack: create the app from its manifest, install it and"
                        " set SLACK_BOT_TOKEN (until then every message is written to the"
                        " log)", "From nothing to alert threads", "from-nothing-to-alert-threads")
    if not events:
        return NextStep("point ThousandEyes at the webhook URL below and press Test in"
                        " ThousandEyes; the event is then listed on this page",
                        "Point ThousandEyes at it", "point-thousandeyes-at-it")
    last = events[0]
    return NextStep(f"act on the alerts in Slack. ThousandEyes reaches this service: the"
                    f" last event, {last.event_type}, arrived"
                    f" {last.received_at:%Y-%m-%d %H:%M:%S} UTC", "In Slack", "in-slack")


def unreachable_from_thousandeyes(base_url: str) -> str | None:
    """The host of ``base_url`` when ThousandEyes, which calls from the internet, could
    not reach it: a loopback, private or link-local address, or a local name."""
    host = (urlsplit(base_url).hostname or "").lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        local = host == "localhost" or host.endswith((".localhost", ".local", ".internal"))
        return host if local else None
    return host if address.is_private or address.is_loopback or address.is_link_local else None


def _token_warnings(app_services: Services) -> list[str]:
    """A bot token Slack refuses (asked at most once a minute, bot.slack.token_check)."""
    check = app_services.bot_token_check
    if check is None:
        return []
    check.refresh()
    return [check.problem] if check.problem else []


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


def api_line(app_services: Services) -> str | None:
    """The ThousandEyes API sync's state in one line; None when no token links it."""
    if not app_services.config.thousandeyes_api_token:
        return None
    try:
        return status_line(read_status(app_services.database))
    except SQLAlchemyError:
        return None  # the database health above already says what is wrong
