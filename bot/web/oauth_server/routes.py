"""``/oauth/authorize`` (the consent page) and ``/oauth/token``: parse, delegate, answer."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request

from bot.web.oauth_server import consent
from bot.web.oauth_server.server import oauth_server
from bot.web.webhook_auth import decode_basic, split_authorization

log = logging.getLogger(__name__)

blueprint = Blueprint("oauth", __name__)


@blueprint.route("/oauth/authorize", methods=["GET", "POST"])
def authorize() -> Response | tuple[str, int]:
    return consent.authorize()


@blueprint.route("/oauth/token", methods=["POST"])
def issue_token() -> Response | tuple[Response, int]:
    server = oauth_server()
    if server is None:
        return jsonify(error="not_configured", message="set OAUTH_ADMIN_PASSWORD"), 404
    problem = consent.malformed_parameter((request.args, request.form), consent.TOKEN_PARAMS)
    if problem is not None:
        log.warning("OAuth token request refused: %s", problem)
        return jsonify(error="invalid_request", error_description=problem, message=problem), 400
    scheme, credentials = split_authorization(request.headers.get("Authorization"))
    if scheme == "basic" and decode_basic(credentials) is None:
        # Authlib decodes Basic credentials as UTF-8 without asking: 0xff was a 500.
        return jsonify(error="invalid_client", message="malformed Basic credentials"), 401
    token: Response = server.create_token_response()  # Authlib is untyped
    return token


@blueprint.after_request
def no_framing_no_caching(response: Response) -> Response:
    # The consent page must not be framed (clickjacking) nor kept by caches.
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
    response.headers["Cache-Control"] = "no-store"
    return response
