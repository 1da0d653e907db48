"""Authlib's authorization server wired to our tables: implicit, authorization-code and
client-credentials grants. The consent page that only an administrator can approve is
``bot.web.oauth_server.consent``.

Why an admin password (``OAUTH_ADMIN_PASSWORD``) guards consent: the person pressing
"Get Token" in ThousandEyes is configuring this service's inbound alerts, which is an
administrator's act; a password from the environment needs no extra identity provider,
works the same on Heroku and on a laptop, and is compared in constant time. Sign in with
Slack would tie consent to a workspace, which a multi-workspace service cannot pick.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import grants
from flask import Flask, current_app
from sqlalchemy import delete

from bot.clock import utcnow
from bot.config import Config
from bot.db.database import Database
from bot.db.models import OAuthCodeRow, OAuthTokenRow
from bot.hashing import sha256_hex
from bot.web.oauth_server.clients import OAuthClient, load_client
from bot.web.services import services

log = logging.getLogger(__name__)

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
    return value if value.tzinfo else value.replace(tzinfo=UTC)


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


def build_oauth_server(app: Flask, config: Config, database: Database) -> AuthorizationServer:
    """The authorization server of ``app``; built only when ``OAUTH_ADMIN_PASSWORD`` is set."""
    lifetime = config.oauth_token_lifetime
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {
        "implicit": lifetime, "authorization_code": lifetime, "client_credentials": lifetime,
    }

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
    return server


def oauth_server() -> AuthorizationServer | None:
    """The app's authorization server, or None while ``OAUTH_ADMIN_PASSWORD`` is unset."""
    return services(current_app).oauth_server
