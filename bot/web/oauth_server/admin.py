"""``python -m bot oauth add-client | list | revoke``."""

from __future__ import annotations

from collections.abc import Sequence

from bot.clock import utcnow
from bot.config import Config
from bot.db.database import Database
from bot.web.oauth_server import clients


def add_client_command(
    config: Config, database: Database, name: str, redirect_uris: Sequence[str] | None,
    confidential: bool,
) -> int:
    uris = tuple(redirect_uris or config.oauth_redirect_uris)
    outside = [u for u in uris if u not in config.oauth_redirect_uris]
    if outside:
        print(f"error: not in OAUTH_REDIRECT_URIS: {', '.join(outside)}")
        return 2
    client_id, secret = clients.add_client(database, name, uris, confidential, utcnow())
    base = config.public_url or "https://YOUR-HOST"
    print(f"Client ID:     {client_id}")
    if secret:
        print(f"Client Secret: {secret}   (shown once; only its hash is stored)")
    print(f"Auth URL:      {base}/oauth/authorize")
    if secret:
        print(f"Token URL:     {base}/oauth/token")
    if not config.te_oauth_server:
        print("note: set OAUTH_ADMIN_PASSWORD on the service, or the consent page stays off")
    return 0


def list_clients_command(database: Database) -> int:
    rows = clients.list_clients(database)
    if not rows:
        print("no OAuth clients")
    for row in rows:
        kind = "confidential" if row.client_secret_hash else "public"
        state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
        print(f"{row.client_id}  {kind:<12} {state:<18} {row.name}")
    return 0


def revoke_command(database: Database, *, client: str | None, token: str | None) -> int:
    """Revoke a client and its tokens, one token, or (neither given) every token."""
    now = utcnow()
    if client:
        if not clients.revoke_client(database, client, now):
            print(f"no active client {client}")
            return 1
        print(f"revoked client {client} and its tokens")
        return 0
    count = clients.revoke_tokens(database, now, token=token)
    print(f"revoked {count} token(s)")
    return 0 if count or token is None else 1
