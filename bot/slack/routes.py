"""Slack's requests handed to Bolt: ``POST /slack/events`` (events, buttons, slash
commands) and, in multi-workspace mode, ``GET /slack/install`` and
``GET /slack/oauth_redirect`` (Bolt answers 404 for those two in single-workspace mode).

Bolt verifies the signature, but only after it has parsed the body and the timestamp
header: an unsigned ``payload=x`` or a timestamp of ``abc`` made it raise, a 500 for
anyone. So the signature is checked here first, with slack-sdk's own verifier (the one
Bolt uses), and only signed requests that Bolt's parser can read reach Bolt, which
checks them again.

Every signed request, whatever it carries (a command, a click, an event), passes here
once more: one seen before (bot.store.replays) is answered without reaching Bolt, so a
captured request replayed within Slack's five minutes acts only once.
"""

from __future__ import annotations

import logging
import re
import time

from flask import Blueprint, Response, current_app, jsonify, request
from slack_bolt.request.internals import parse_body
from slack_sdk.signature import SignatureVerifier
from sqlalchemy.exc import SQLAlchemyError

from bot.store.replays import first_sight
from bot.web.services import services

log = logging.getLogger(__name__)

blueprint = Blueprint("slack", __name__)

# Slack sends Unix seconds and "v0=" with a hex SHA-256; int() alone would also take
# " 1", "1_0", "+1" and other scripts' digits.
_TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}", re.ASCII)


@blueprint.route("/slack/events", methods=["POST"])
@blueprint.route("/slack/install", methods=["GET"])
@blueprint.route("/slack/oauth_redirect", methods=["GET"])
def slack_events() -> Response | tuple[Response, int]:
    app_services = services(current_app)
    handler = app_services.slack_handler
    # With only the signing secret, Slack's Request URL check can pass already: the
    # README's order (create the app, paste its URL, then install it and get the bot
    # token) needs it before a token exists.
    verifies = request.method == "POST" and bool(app_services.config.slack_signing_secret)
    if handler is None and not verifies:
        return _not_configured()
    if request.method == "POST" and not _signed_by_slack():
        log.warning("Slack request refused from %s: missing, malformed or wrong signature",
                    request.remote_addr)
        return jsonify(error="unauthorized",
                       message="missing, malformed, stale or wrong Slack signature"), 401
    if request.method == "POST" and not _parses_as_slack_payload():
        log.warning("signed Slack request whose body is not a Slack payload")
        return jsonify(error="bad_request", message="the body is not a Slack payload"), 400
    if request.method == "POST":
        replay = _replay_answer()
        if replay is not None:
            return replay
    if handler is None:
        challenge = _url_verification_challenge()
        if challenge is None:
            return _not_configured()
        log.info("Slack verified the Request URL; set SLACK_BOT_TOKEN next")
        return jsonify(challenge=challenge)
    return handler.handle(request)


def _not_configured() -> tuple[Response, int]:
    return jsonify(
        error="not_configured",
        message="Slack is not configured here: set SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN"
        " (or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET to install to many workspaces)",
    ), 503


def _url_verification_challenge() -> str | None:
    """The ``challenge`` of Slack's signed ``url_verification`` event, else None."""
    body = request.get_json(silent=True)
    if isinstance(body, dict) and body.get("type") == "url_verification":
        challenge = body.get("challenge")
        if isinstance(challenge, str):
            return challenge
    return None


def _parses_as_slack_payload() -> bool:
    """Bolt's own parser, run once ahead of Bolt: what it cannot parse into an object
    (``payload=null``, ``{``) made Bolt raise."""
    content_type = (request.headers.get("Content-Type") or "").split(";")[0] or None
    try:
        body = parse_body(request.get_data(as_text=True), content_type)
    except ValueError:  # json.JSONDecodeError
        return False
    return isinstance(body, dict)


def _replay_answer() -> Response | tuple[Response, int] | None:
    """The answer to a signed request seen before, or None for one seen the first time.

    A replay learns nothing: a command gets a fixed line (the first answer may have held
    a webhook's token, which is never stored), anything else Slack's plain 200.
    """
    timestamp = request.headers["X-Slack-Request-Timestamp"]
    digest = request.headers["X-Slack-Signature"].removeprefix("v0=")
    try:
        if first_sight(services(current_app).database, digest, int(timestamp), time.time()):
            return None
    except SQLAlchemyError as error:
        # Unrecorded, a request could be replayed: better refused (Slack shows the user
        # an error) than maybe acted on twice.
        log.error("could not record a Slack request (%s); answering 503",
                  error.__class__.__name__)
        return jsonify(error="database_unavailable",
                       message="the database is not answering; try again"), 503
    log.warning("replayed Slack request from %s (its signature was seen before);"
                " answered without acting", request.remote_addr)
    if request.form.get("command"):
        return jsonify(response_type="ephemeral",
                       text="This request was already handled; nothing was done again.")
    return Response(status=200)


def _signed_by_slack() -> bool:
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    signature = request.headers.get("X-Slack-Signature", "")
    if not (_TIMESTAMP.fullmatch(timestamp) and _SIGNATURE.fullmatch(signature)):
        return False
    secret = services(current_app).config.slack_signing_secret or ""
    # The same text Bolt's Flask adapter verifies (as_text decodes with replacement).
    body = request.get_data(as_text=True)
    return SignatureVerifier(secret).is_valid(body, timestamp, signature)
