"""``python -m bot oauth add-client | list | revoke``."""

from __future__ import annotations

import argparse

from bot.config import Config
from bot.oauth_server import clients
from bot.store.database import Database
from bot.thousandeyes import utcnow


def oauth_command(config: Config, args: argparse.Namespace) -> int:
    database = Database(config.database_url, config.sqlite_synchronous)
    database.upgrade()
    try:
        if args.oauth_command == "add-client":
            return _add(database, config, args)
        if args.oauth_command == "list":
            return _list(database)
        return _revoke(database, args)
    finally:
        database.dispose()


def _add(database: Database, config: Config, args: argparse.Namespace) -> int:
    redirect_uris = tuple(args.redirect_uris or config.oauth_redirect_uris)
    outside = [u for u in redirect_uris if u not in config.oauth_redirect_uris]
    if outside:
        print(f"error: not in OAUTH_REDIRECT_URIS: {', '.join(outside)}")
        return 2
    client_id, secret = clients.add_client(
        database, args.name, redirect_uris, args.confidential, utcnow()
    )
    base = config.public_url or "https://YOUR-HOST"
    print(f"Client ID:     {client_id}")
    if secret:
        print(f"Client Secret: {secret}   (shown once; only its hash is stored)")
    print(f"Auth URL:      {base}/oauth/authorize")
    if secret:
        print(f"Token URL:     {base}/oauth/token")
    if not config.oauth_enabled:
        print("note: set OAUTH_ADMIN_PASSWORD on the service, or the consent page stays off")
    return 0


def _list(database: Database) -> int:
    rows = clients.list_clients(database)
    if not rows:
        print("no OAuth clients")
    for row in rows:
        kind = "confidential" if row.client_secret_hash else "public"
        state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
        print(f"{row.client_id}  {kind:<12} {state:<18} {row.name}")
    return 0


def _revoke(database: Database, args: argparse.Namespace) -> int:
    now = utcnow()
    if args.client:
        if not clients.revoke_client(database, args.client, now):
            print(f"no active client {args.client}")
            return 1
        print(f"revoked client {args.client} and its tokens")
        return 0
    count = clients.revoke_tokens(database, now, token=args.token)
    print(f"revoked {count} token(s)")
    return 0 if count or args.all_tokens else 1
