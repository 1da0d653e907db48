"""``POST /webhooks/thousandeyes``: authenticate, parse, store, answer.

A thin transport: the parsing lives in ``bot.thousandeyes`` and the atomic write in
``bot.store.ingest``. The view answers 200 only after the commit and never waits on
Slack; ThousandEyes retries non-200 answers every 5 minutes, so an error that is not the
sender's fault is a 503 (retry), never a 500.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from datetime import timedelta
from ipaddress import IPv6Address, ip_address

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from sqlalchemy.exc import DataError, SQLAlchemyError

from bot.clock import utcnow
from bot.store import lockout
from bot.store.ingest import IncomingEvent, IngestStatus, store_one
from bot.store.lockout import Guarded, client_key
from bot.store.reminders import reminder_plan
from bot.store.routes import DEFAULT_ROUTE, find_route, token_matches
from bot.thousandeyes import PayloadError, check_numbers, parse_event
from bot.thousandeyes.custom import is_custom_webhook, parse_custom_event, to_classic_body
from bot.web.services import services
from bot.web.webhook_auth import check_authorization, split_authorization

log = logging.getLogger(__name__)

blueprint = Blueprint("webhook", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)


_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,30}$")
_CHANNEL_NAME = re.compile(r"^#?([a-z0-9][a-z0-9_\-.]{0,79})$")


@dataclass(frozen=True)
class Destination:
    """Where an accepted event goes: its route (dedup scope), channel and workspace."""

    route: str
    channel: str
    team_id: str | None = None


@blueprint.before_request
def check_source() -> tuple[Response, int] | None:
    """Refuse webhooks from outside ``WEBHOOK_ALLOWED_SOURCES`` before reading anything.

    ``request.remote_addr`` is the peer, or the client named by trusted proxies
    (``TRUSTED_PROXY_HOPS``, applied by ProxyFix in create_app): a spoofed
    X-Forwarded-For from an untrusted peer never reaches this check.
    """
    allowed = services(current_app).config.webhook_allowed_sources
    if not allowed:
        return None
    try:
        source = ip_address(request.remote_addr or "")
    except ValueError:
        source = None
    if isinstance(source, IPv6Address) and source.ipv4_mapped is not None:
        source = source.ipv4_mapped  # ::ffff:192.150.160.1 on a dual-stack listener
    if source is not None and any(source in network for network in allowed):
        return None
    log.warning("webhook refused: source %s is not in WEBHOOK_ALLOWED_SOURCES",
                request.remote_addr)
    return _error(403, "forbidden", "this source address may not post webhooks here")


@blueprint.route("/webhooks/thousandeyes", methods=["POST"])
@blueprint.route("/webhooks/thousandeyes/", methods=["POST"])
def receive_default() -> tuple[Response, int] | Response:
    """The route of ``SLACK_CHANNEL``, protected by WEBHOOK_TOKEN / WEBHOOK_BASIC_AUTH
    or a token from our OAuth server."""
    app_services = services(current_app)
    config = app_services.config
    if not config.default_route_has_workspace:
        # Many workspaces and no single bot token: this route has nowhere to post.
        return _error(404, "not_found", "this service serves many workspaces: use the webhook"
                      " URL that /thousandeyes connect gives in your channel")
    credentials = app_services.webhook_credentials
    try:
        # First, and in constant time: valid credentials are never slowed by the lockout.
        problem = check_authorization(request.headers.get("Authorization"), credentials)
    except SQLAlchemyError as error:  # an OAuth token lookup could not reach the database
        return _database_unavailable("an OAuth token check", error)
    if problem is not None:
        return _unauthorized(problem, credentials.challenge)
    channel, channel_problem = parse_channel_argument(request.args.get("channel"))
    if channel_problem is not None:
        return _error(400, "bad_request", channel_problem)
    # '' stands for SLACK_CHANNEL, resolved when the parent is first posted; from then
    # on the alert's thread stays where it started even if SLACK_CHANNEL changes.
    return _ingest(Destination(DEFAULT_ROUTE, channel))


@blueprint.route("/webhooks/thousandeyes/<route_id>", methods=["POST"])
@blueprint.route("/webhooks/thousandeyes/<route_id>/", methods=["POST"])
def receive_route(route_id: str) -> tuple[Response, int] | Response:
    """A route made by ``/thousandeyes connect``: one channel, its own Bearer token."""
    try:
        route = find_route(services(current_app).database, route_id)
    except SQLAlchemyError as error:
        return _database_unavailable(f"route {route_id[:40]}", error)
    if route is None:
        # A route id is half of the route's credentials: guessing ids counts as guessing.
        return _refused(_error(404, "not_found", "no such webhook route; check the URL"
                               " that /thousandeyes connect gave you"), "no such route")
    if route.disabled_at is not None:
        return _error(410, "gone", f"this webhook was disconnected ({route.disabled_reason})")
    scheme, token = split_authorization(request.headers.get("Authorization"))
    if scheme != "bearer" or not token_matches(route, token):
        return _unauthorized("missing or invalid bearer token for this route",
                             'Bearer realm="thousandeyes-webhook"')
    if "channel" in request.args:
        return _error(400, "bad_request", "this webhook URL belongs to one channel;"
                      " remove ?channel= or use /thousandeyes connect in the other channel")
    return _ingest(Destination(route.id, route.channel_id, route.team_id))


def _ingest(destination: Destination) -> tuple[Response, int] | Response:
    app_services = services(current_app)
    request.max_content_length = app_services.config.webhook_max_body_bytes
    # Raises RequestEntityTooLarge (413) when the body is over the limit.
    body = request.get_data(cache=False)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return _error(400, "bad_request", "the body is not UTF-8 text")
    try:
        decoded = json.loads(text)
    except json.JSONDecodeError as error:
        return _error(400, "bad_request", f"the body is not valid JSON: {error.msg}")
    except RecursionError:
        return _error(400, "bad_request", "the body is not valid JSON: nested too deeply")
    except ValueError as error:  # an integer with thousands of digits
        return _error(400, "bad_request", f"the body is not valid JSON: {str(error)[:120]}")
    if "\\u" in text and _has_lone_surrogate(decoded):
        return _error(400, "bad_request", "the body is not valid JSON: it escapes half of a"
                      " UTF-16 surrogate pair (\\ud800-\\udfff) that no character completes")
    options = app_services.config.parse_options()
    try:
        check_numbers(decoded)  # NaN, Infinity, 1e999, ids past 64 bits: named here
        if is_custom_webhook(decoded):
            # Stored in the classic shape, so delivery re-reads both kinds the same way.
            decoded = to_classic_body(parse_custom_event(decoded, options))
            text = json.dumps(decoded, ensure_ascii=False)
        event = parse_event(decoded, options)
    except PayloadError as error:
        return _error(400, "bad_request", str(error))

    try:
        incoming = IncomingEvent(
            event, route=destination.route, channel=destination.channel, body_text=text,
            now=utcnow(), team_id=destination.team_id,
            default_channel=app_services.config.slack_channel or "",
            reminders=reminder_plan(app_services.config),
            flap_window=app_services.config.flap_window,
        )
        committer = app_services.group_commit
        result = (committer.store(incoming) if committer is not None
                  else store_one(app_services.database, incoming))
    except DataError as error:
        # The database refused a value (not the connection): retrying cannot help.
        log.warning("event %s refused by the database: %s", event.event_id,
                    str(error.orig)[:200] if error.orig else error.__class__.__name__)
        return _error(400, "bad_request", "a value in the payload cannot be stored")
    except SQLAlchemyError as error:
        return _database_unavailable(f"event {event.event_id} ({event.event_type})", error)

    duplicate = result.status is IngestStatus.DUPLICATE
    if app_services.metrics is not None:
        app_services.metrics.event_stored(event.event_type, duplicate)
    fields = {"event_id": event.event_id, "route": destination.route,
              "channel": destination.channel or None,
              "alert_key": event.alert.key if event.alert else None}  # LOG_FORMAT=json
    if duplicate:
        log.info("duplicate event %s ignored", event.event_id,
                 extra={**fields, "outcome": "duplicate"})
        return jsonify(status="duplicate", eventId=event.event_id)
    if result.reused_id:
        # Kept, not dropped: a clear sent with its trigger's id must still clear.
        log.warning("event %s reused an eventId already stored with another body; stored as"
                    " a new event (the sender should give each event its own id)",
                    event.event_id, extra={**fields, "outcome": "reused_id"})
    log.info(
        "accepted %s %s alert=%s route=%s channel=%s", event.event_type, event.event_id,
        event.alert.key if event.alert else "-", destination.route, destination.channel or "-",
        extra={**fields, "outcome": "accepted"},
    )
    app_services.notify_new_jobs(result.job_due_at)
    return jsonify(status="accepted", eventId=event.event_id)


def _has_lone_surrogate(value: object) -> bool:
    """json.loads accepts "\\ud800" alone; no database can store it (it is not text)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _error(status: int, error: str, message: str) -> tuple[Response, int]:
    return jsonify(error=error, message=message), status


def _unauthorized(problem: str, challenge: str) -> tuple[Response, int]:
    response = jsonify(error="unauthorized", message=problem)
    response.headers["WWW-Authenticate"] = challenge
    return _refused((response, 401), problem)


def _refused(answer: tuple[Response, int], problem: str) -> tuple[Response, int]:
    """Count a wrong guess against the client's address: ``answer`` while it has guesses
    left, ``429`` with ``Retry-After`` while it must wait (``bot.store.lockout``).

    Only requests whose credentials are wrong come here, so a valid sender that shares
    an address with a guesser is never held up.
    """
    database = services(current_app).database
    key = client_key(request.remote_addr)
    now = utcnow()
    try:
        current = lockout.current_lockout(database, Guarded.WEBHOOK, key, now)
        if current.locked:
            log.info("webhook refused from %s: %s; waiting %.0f s after wrong credentials",
                     key, problem, current.wait.total_seconds())
            return _too_many_guesses(current.wait)
        after = lockout.record_failure(database, Guarded.WEBHOOK, key, now)
    except SQLAlchemyError as error:
        # Counting is a brake, not the gate: the credentials were wrong all the same.
        log.warning("webhook refused from %s: %s (wrong guesses not counted: %s)", key,
                    problem, error.__class__.__name__)
        return answer
    log.warning("webhook refused from %s: %s", key, problem)
    if after.locked:
        answer[0].headers["Retry-After"] = _seconds(after.wait)
    return answer


def _too_many_guesses(wait: timedelta) -> tuple[Response, int]:
    seconds = _seconds(wait)
    response = jsonify(error="too_many_requests", message=(
        f"too many wrong credentials from your address; wait {seconds} seconds"
        " (requests with the right credentials are not held up)"))
    response.headers["Retry-After"] = seconds
    return response, 429


def _seconds(wait: timedelta) -> str:
    return str(max(1, math.ceil(wait.total_seconds())))


def _database_unavailable(what: str, error: SQLAlchemyError) -> tuple[Response, int]:
    log.error("could not store %s: %s; answering 503 so ThousandEyes retries",
              what, error.__class__.__name__)
    response = jsonify(error="unavailable", message="the database is unavailable; retry later")
    response.headers["Retry-After"] = "60"
    return response, 503


def parse_channel_argument(value: str | None) -> tuple[str, str | None]:
    """``?channel=`` as given: a channel id, or a name with or without ``#``.

    Returns ``("", None)`` when absent (use the route's default channel).
    """
    if value is None:
        return "", None
    value = value.strip()
    if not value:
        return "", (
            "'channel' is empty; if you wrote ?channel=#name, write ?channel=name"
            " (the part after # is never sent)"
        )
    if _CHANNEL_ID.match(value):
        return value, None
    match = _CHANNEL_NAME.match(value)
    if match:
        return "#" + match.group(1), None
    return "", f"'channel' must be a channel id like C0123456789 or a name like alerts, got {value[:60]!r}"
