"""OAuth clients (one per ThousandEyes webhook configuration) and their tokens.

Secrets, codes and tokens are random and stored only as SHA-256 hashes; every check is a
constant-time comparison of hashes.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from authlib.oauth2.rfc6749 import ClientMixin
from sqlalchemy import select, update

from bot.db.database import Database
from bot.db.models import OAuthClientRow, OAuthTokenRow
from bot.db.results import affected_rows
from bot.hashing import sha256_hex

SCOPE = "webhook"
CLIENT_ID = re.compile(r"te-[0-9a-f]{24}", re.ASCII)  # what add_client makes
# ThousandEyes' classic webhooks use the implicit grant; custom webhooks use the
# authorization-code grant (no state) or client credentials.
PUBLIC_GRANTS = ("implicit",)
CONFIDENTIAL_GRANTS = ("authorization_code", "client_credentials")


@dataclass(frozen=True)
class OAuthClient(ClientMixin):  # type: ignore[misc]
    """Authlib's view of a stored client, checked against the service's allowlist."""

    row_client_id: str
    name: str
    secret_hash: str | None
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    allowed_redirects: tuple[str, ...]

    def get_client_id(self) -> str:
        return self.row_client_id

    def get_default_redirect_uri(self) -> str | None:
        return next((u for u in self.redirect_uris if u in self.allowed_redirects), None)

    def get_allowed_scope(self, scope: str | None) -> str:
        return SCOPE

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Both lists must hold it: the client's own, and the service-wide allowlist of
        # ThousandEyes callbacks, so a stolen client id cannot send a token elsewhere.
        return redirect_uri in self.redirect_uris and redirect_uri in self.allowed_redirects

    def check_client_secret(self, client_secret: str) -> bool:
        if self.secret_hash is None:
            return False
        return hmac.compare_digest(sha256_hex(client_secret or ""), self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.secret_hash is None:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        wanted = {"token": "implicit", "code": "authorization_code"}.get(response_type)
        return wanted is not None and wanted in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


def load_client(db: Database, client_id: str, allowed_redirects: Sequence[str]) -> OAuthClient | None:
    if not CLIENT_ID.fullmatch(client_id or ""):
        return None  # never ours; and a NUL or a megabyte never reaches the database
    with db.session() as session:
        row = session.get(OAuthClientRow, client_id)
        if row is None or row.revoked_at is not None:
            return None
        return OAuthClient(
            row_client_id=row.client_id, name=row.name, secret_hash=row.client_secret_hash,
            redirect_uris=tuple(row.redirect_uris or ()), grant_types=tuple(row.grant_types or ()),
            allowed_redirects=tuple(allowed_redirects),
        )


def add_client(
    db: Database, name: str, redirect_uris: Sequence[str], confidential: bool, now: datetime
) -> tuple[str, str | None]:
    """Register a client; returns (client id, secret or None). The secret is shown once."""
    client_id = "te-" + secrets.token_hex(12)
    secret = secrets.token_urlsafe(32) if confidential else None
    with db.session() as session:
        session.add(OAuthClientRow(
            client_id=client_id, name=name[:200],
            client_secret_hash=sha256_hex(secret) if secret else None,
            redirect_uris=list(redirect_uris),
            grant_types=list(CONFIDENTIAL_GRANTS if confidential else PUBLIC_GRANTS),
            created_at=now,
        ))
    return client_id, secret


def list_clients(db: Database) -> list[OAuthClientRow]:
    with db.session() as session:
        return list(session.scalars(select(OAuthClientRow).order_by(OAuthClientRow.created_at)))


def token_is_valid(db: Database, presented: str, now: datetime) -> bool:
    """True for an issued, unexpired, unrevoked access token of a live client."""
    with db.session() as session:
        token = session.scalar(
            select(OAuthTokenRow).where(OAuthTokenRow.token_hash == sha256_hex(presented))
        )
        if token is None or token.revoked_at is not None or token.expires_at <= now:
            return False
        client = session.get(OAuthClientRow, token.client_id)
        return client is not None and client.revoked_at is None


def revoke_tokens(db: Database, now: datetime, client_id: str | None = None,
                  token: str | None = None) -> int:
    """Revoke one token, all tokens of a client, or every token; returns how many."""
    statement = update(OAuthTokenRow).where(OAuthTokenRow.revoked_at.is_(None))
    if client_id is not None:
        statement = statement.where(OAuthTokenRow.client_id == client_id)
    if token is not None:
        statement = statement.where(OAuthTokenRow.token_hash == sha256_hex(token))
    with db.session() as session:
        return affected_rows(session.execute(statement.values(revoked_at=now))) or 0


def revoke_client(db: Database, client_id: str, now: datetime) -> bool:
    with db.session() as session:
        done = affected_rows(session.execute(
            update(OAuthClientRow)
            .where(OAuthClientRow.client_id == client_id, OAuthClientRow.revoked_at.is_(None))
            .values(revoked_at=now)
        ))
    revoke_tokens(db, now, client_id=client_id)
    return bool(done)
