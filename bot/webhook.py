"""``POST /webhooks/thousandeyes``: authenticate, parse, store, answer.

A thin transport: the parsing lives in ``bot.thousandeyes`` and the atomic write in
``bot.store.ingest``. The view answers 200 only after the commit and never waits on
Slack; ThousandEyes retries non-200 answers every 5 minutes, so an error that is not the
sender's fault is a 503 (retry), never a 500.
"""

from __future__ import annotations

import json
import logging
import re

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from bot.services import services
from bot.store.ingest import IngestStatus, store_event
from bot.thousandeyes import PayloadError, parse_event, utcnow
from bot.webhook_auth import check_authorization

log = logging.getLogger(__name__)

blueprint = Blueprint("webhook", __name__)

DEFAULT_ROUTE = "default"
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,30}$")
_CHANNEL_NAME = re.compile(r"^#?([a-z0-9][a-z0-9_\-.]{0,79})$")


@blueprint.route("/webhooks/thousandeyes", methods=["POST"])
@blueprint.route("/webhooks/thousandeyes/", methods=["POST"])
def receive() -> tuple[Response, int] | Response:
    app_services = services(current_app)
    credentials = app_services.webhook_credentials
    problem = check_authorization(request.headers.get("Authorization"), credentials)
    if problem is not None:
        log.warning("webhook refused from %s: %s", request.remote_addr, problem)
        response = jsonify(error="unauthorized", message=problem)
        response.headers["WWW-Authenticate"] = credentials.challenge
        return response, 401

    channel, channel_problem = parse_channel_argument(request.args.get("channel"))
    if channel_problem is not None:
        return jsonify(error="bad_request", message=channel_problem), 400

    request.max_content_length = app_services.config.webhook_max_body_bytes
    # Raises RequestEntityTooLarge (413) when the body is over the limit.
    body = request.get_data(cache=False)
    try:
        text = body.decode("utf-8")
        decoded = json.loads(text)
    except UnicodeDecodeError:
        return jsonify(error="bad_request", message="the body is not UTF-8 text"), 400
    except (json.JSONDecodeError, RecursionError) as error:
        detail = error.msg if isinstance(error, json.JSONDecodeError) else "nested too deeply"
        return jsonify(error="bad_request", message=f"the body is not valid JSON: {detail}"), 400
    try:
        event = parse_event(decoded)
    except PayloadError as error:
        return jsonify(error="bad_request", message=str(error)), 400

    try:
        result = store_event(
            app_services.database,
            event,
            route=DEFAULT_ROUTE,
            # The channel is fixed when the event arrives: an alert's thread stays where it
            # started even if SLACK_CHANNEL changes later.
            channel=channel or app_services.config.slack_channel or "",
            body_text=text,
            now=utcnow(),
        )
    except SQLAlchemyError as error:
        log.error(
            "could not store event %s (%s): %s; answering 503 so ThousandEyes retries",
            event.event_id, event.event_type, error.__class__.__name__,
        )
        response = jsonify(error="unavailable", message="the database is unavailable; retry later")
        response.headers["Retry-After"] = "60"
        return response, 503

    if result.status is IngestStatus.DUPLICATE:
        log.info("duplicate event %s ignored", event.event_id)
        return jsonify(status="duplicate", eventId=event.event_id)
    log.info(
        "accepted %s %s alert=%s channel=%s",
        event.event_type, event.event_id, event.alert.key if event.alert else "-", channel or "-",
    )
    app_services.notify_new_jobs()
    return jsonify(status="accepted", eventId=event.event_id)


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
