"""Multi-workspace install: Bolt's OAuth flow with slack-sdk's SQLAlchemy stores, kept in
the app's own database (their tables are created by migration 0002)."""

from __future__ import annotations

from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

from bot.config import Config, SlackMode
from bot.db.database import Database

# What the bot needs and nothing more: post and update its messages, join a public
# channel it was pointed at, find a channel given by #name, read recent messages to
# find one an interrupted delivery may already have posted (so it is not posted twice),
# the slash command, and ask whether a member is a workspace admin or owner (who may end
# webhooks and snoozes others made).
BOT_SCOPES = ("chat:write", "channels:join", "channels:read", "channels:history",
              "groups:history", "commands", "users:read")
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
STATE_EXPIRATION_SECONDS = 600


def build_installation_store(
    config: Config, database: Database
) -> SQLAlchemyInstallationStore | None:
    if config.slack_mode is not SlackMode.MULTI:
        return None
    return SQLAlchemyInstallationStore(
        client_id=config.slack_client_id or "", engine=database.engine
    )


def build_oauth_settings(config: Config, database: Database) -> OAuthSettings:
    store = build_installation_store(config, database)
    assert store is not None, "OAuth settings need SLACK_CLIENT_ID and SLACK_CLIENT_SECRET"
    return OAuthSettings(
        client_id=config.slack_client_id,
        client_secret=config.slack_client_secret,
        scopes=list(BOT_SCOPES),
        installation_store=store,
        state_store=SQLAlchemyOAuthStateStore(
            expiration_seconds=STATE_EXPIRATION_SECONDS, engine=database.engine
        ),
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        redirect_uri=f"{config.public_url}{REDIRECT_PATH}" if config.public_url else None,
        install_page_rendering_enabled=True,
    )
