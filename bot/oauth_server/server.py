"""Authlib's authorization server wired to our tables: implicit, authorization-code and
client-credentials grants, and a consent page only an administrator can approve.

Why an admin password (``OAUTH_ADMIN_PASSWORD``) guards consent: the person pressing
"Get Token" in ThousandEyes is configuring this service's inbound alerts, which is an
administrator's act; a password from the environment needs no extra identity provider,
works the same on Heroku and on a laptop, and is compared in constant time. Sign in with
Slack would tie consent to a workspace, which a multi-workspace service cannot pick.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import grants
from flask import Blueprint, Flask, Response, current_app, render_template_string, request
from sqlalchemy import delete, select

from bot.hashing import sha256_hex
from bot.oauth_server.clients import OAuthClient, load_client
from bot.services import services
from bot.store.models import OAuthCodeRow, OAuthTokenRow
from bot.thousandeyes import utcnow

log = logging.getLogger(__name__)

blueprint = Blueprint("oauth", __name__)
SERVER_KEY = "thousandeyes_bot.oauth_server"
THROTTLE_KEY = "thousandeyes_bot.oauth_throttle"
CODE_LIFETIME = timedelta(minutes=5)


class ServiceAdmin:
    """The resource owner who approves consent: whoever knows the admin password."""

    def get_user_id(self) -> str:
        return "admin"


@dataclass(frozen=True)
class _Code:
    """What Authlib needs to know of a redeemed authorization code."""

    redirect_uri: str
    scope: str

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


def _aware(value: datetime) -> datetime:
    # RETURNING hands back the raw column value: naive UTC on SQLite.
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class ConsentThrottle:
    """Slows password guessing on the consent page: after ``limit`` wrong passwords in
    ``window`` seconds, the page refuses every attempt until the window has passed."""

    def __init__(self, limit: int = 10, window: float = 900.0) -> None:
        self._limit = limit
        self._window = window
        self._failures: deque[float] = deque()
        self._lock = threading.Lock()

    def blocked(self) -> bool:
        with self._lock:
            self._forget(time.monotonic())
            return len(self._failures) >= self._limit

    def failed(self) -> None:
        with self._lock:
            self._failures.append(time.monotonic())

    def _forget(self, now: float) -> None:
        while self._failures and now - self._failures[0] > self._window:
            self._failures.popleft()


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def save_authorization_code(self, code: str, request: Any) -> None:
        now = utcnow()
        with services(current_app).database.session() as session:
            session.add(OAuthCodeRow(
                code_hash=sha256_hex(code), client_id=request.client.get_client_id(),
                redirect_uri=request.payload.redirect_uri or "", scope=request.scope or "",
                created_at=now, expires_at=now + CODE_LIFETIME,
            ))

    def query_authorization_code(self, code: str, client: OAuthClient) -> _Code | None:
        # Consume the code as it is read: of two requests racing with one code, only the
        # one whose DELETE removed the row gets a token.
        with services(current_app).database.session() as session:
            row = session.execute(
                delete(OAuthCodeRow)
                .where(OAuthCodeRow.code_hash == sha256_hex(code),
                       OAuthCodeRow.client_id == client.get_client_id())
                .returning(OAuthCodeRow.code_hash, OAuthCodeRow.redirect_uri,
                           OAuthCodeRow.scope, OAuthCodeRow.expires_at)
            ).first()
        if row is None or _aware(row.expires_at) <= utcnow():
            return None
        return _Code(redirect_uri=row.redirect_uri, scope=row.scope)

    def delete_authorization_code(self, authorization_code: _Code) -> None:
        """Already deleted when it was read (see query_authorization_code)."""

    def authenticate_user(self, authorization_code: _Code) -> ServiceAdmin:
        return ServiceAdmin()


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


def init_oauth_server(app: Flask) -> None:
    """Attach the authorization server; only when ``OAUTH_ADMIN_PASSWORD`` is set."""
    config = services(app).config
    lifetime = config.oauth_token_lifetime
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {
        "implicit": lifetime, "authorization_code": lifetime, "client_credentials": lifetime,
    }
    database = services(app).database

    def query_client(client_id: str) -> OAuthClient | None:
        return load_client(database, client_id, config.oauth_redirect_uris)

    def save_token(token: dict[str, Any], oauth_request: Any) -> None:
        now = utcnow()
        with database.session() as session:
            session.add(OAuthTokenRow(
                token_hash=sha256_hex(token["access_token"]),
                client_id=oauth_request.client.get_client_id(),
                grant_type=oauth_request.payload.grant_type or "implicit",
                scope=token.get("scope", "") or "",
                issued_at=now,
                expires_at=now + timedelta(seconds=int(token.get("expires_in", lifetime))),
            ))
        log.info("issued an OAuth token to client %s", oauth_request.client.get_client_id())

    server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
    server.register_grant(grants.ImplicitGrant)
    server.register_grant(AuthorizationCodeGrant)
    server.register_grant(ClientCredentialsGrant)
    app.extensions[SERVER_KEY] = server
    app.extensions[THROTTLE_KEY] = ConsentThrottle()


def _server() -> AuthorizationServer | None:
    return current_app.extensions.get(SERVER_KEY)


_CONSENT_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Authorize ThousandEyes</title>
<style>body{font-family:sans-serif;max-width:32em;margin:3em auto;padding:0 1em}
input,button{font-size:1em;padding:.4em}.error{color:#b00}</style></head>
<body><h1>Authorize {{ client_name }}</h1>
<p><b>{{ client_name }}</b> asks for a token to post ThousandEyes alerts to this service.
It will be valid for {{ days }} days.</p>
{% if error %}<p class="error">{{ error }}</p>{% endif %}
<form method="post">
{% for key, value in params %}<input type="hidden" name="{{ key }}" value="{{ value }}">{% endfor %}
<p><label>Administrator password<br><input type="password" name="admin_password"
 autocomplete="current-password" autofocus></label></p>
<p><button name="decision" value="approve">Approve</button>
<button name="decision" value="deny">Deny</button></p>
</form></body></html>"""

_ERROR_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Cannot authorize</title>
</head><body><h1>Cannot authorize</h1><p>{{ message }}</p></body></html>"""

_OAUTH_PARAMS = ("response_type", "client_id", "redirect_uri", "scope", "state")


@blueprint.route("/oauth/authorize", methods=["GET", "POST"])
def authorize() -> Response | tuple[str, int]:
    server = _server()
    if server is None:
        return render_template_string(
            _ERROR_PAGE, message="OAuth is off: set OAUTH_ADMIN_PASSWORD to enable it."), 404
    try:
        grant = server.get_consent_grant(end_user=None)
    except OAuth2Error as error:
        # Never redirect an invalid request: the redirect URI itself may be the problem.
        log.warning("OAuth authorize refused: %s", error.error)
        return render_template_string(_ERROR_PAGE, message=error.description or error.error), 400
    client = grant.client
    config = services(current_app).config
    params = [(key, request.values[key]) for key in _OAUTH_PARAMS if key in request.values]
    page = {"client_name": client.name, "days": config.oauth_token_lifetime // 86400,
            "params": params}
    if request.method == "GET":
        return render_template_string(_CONSENT_PAGE, error=None, **page), 200
    if request.form.get("decision") == "deny":
        return server.create_authorization_response(grant=grant, grant_user=None)
    throttle: ConsentThrottle = current_app.extensions[THROTTLE_KEY]
    if throttle.blocked():
        log.warning("OAuth consent refused: too many wrong passwords recently")
        return render_template_string(
            _CONSENT_PAGE, error="Too many wrong passwords; try again in 15 minutes.", **page), 429
    given = request.form.get("admin_password", "")
    expected = config.oauth_admin_password or ""
    if not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
        throttle.failed()
        log.warning("OAuth consent for %s refused: wrong administrator password from %s",
                    client.get_client_id(), request.remote_addr)
        return render_template_string(_CONSENT_PAGE, error="Wrong password.", **page), 403
    log.info("OAuth consent approved for client %s", client.get_client_id())
    return server.create_authorization_response(grant=grant, grant_user=ServiceAdmin())


@blueprint.after_request
def no_framing_no_caching(response: Response) -> Response:
    # The consent page must not be framed (clickjacking) nor kept by caches.
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.route("/oauth/token", methods=["POST"])
def issue_token() -> Response | tuple[Response, int]:
    server = _server()
    if server is None:
        from flask import jsonify

        return jsonify(error="not_configured", message="set OAUTH_ADMIN_PASSWORD"), 404
    return server.create_token_response()
