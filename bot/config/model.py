"""The frozen :class:`Config`, validated once; its fields' defaults are the declarations'.

Nothing here runs at import time: :meth:`Config.from_env` is called by the CLI and by
``create_app`` when no config is injected, so tests build a :class:`Config` directly.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from bot.config.database_url import redact_database_url
from bot.config.reader import read_settings
from bot.config.settings import SETTINGS_BY_FIELD
from bot.thousandeyes.options import ParseOptions


def _declared(name: str) -> Any:
    """The dataclass field of a declared setting: its default, hidden from repr if secret."""
    setting = SETTINGS_BY_FIELD[name]
    return field(default=setting.default, repr=not setting.secret)


class SlackMode(str, enum.Enum):
    """How the service talks to Slack, decided once from the credentials."""

    LOG_ONLY = "log-only"  # no credentials: every message is written to the log
    SINGLE = "single"  # one workspace: SLACK_BOT_TOKEN
    # Installed to many workspaces (SLACK_CLIENT_ID/SECRET); a SLACK_BOT_TOKEN beside them
    # is the workspace of the default route.
    MULTI = "multi"


@dataclass(frozen=True)
class Config:
    database_url: str = _declared("database_url")
    slack_bot_token: str | None = _declared("slack_bot_token")
    slack_signing_secret: str | None = _declared("slack_signing_secret")
    slack_app_token: str | None = _declared("slack_app_token")
    slack_client_id: str | None = _declared("slack_client_id")
    slack_client_secret: str | None = _declared("slack_client_secret")
    slack_api_url: str = _declared("slack_api_url")
    slack_channel: str | None = _declared("slack_channel")
    slack_broadcast_clears: bool = _declared("slack_broadcast_clears")
    slack_command: str = _declared("slack_command")
    webhook_token: str | None = _declared("webhook_token")
    webhook_basic_auth: tuple[str, str] | None = _declared("webhook_basic_auth")
    webhook_max_body_bytes: int = _declared("webhook_max_body_bytes")
    # Webhooks waiting at once are committed in one transaction (bot.store.group_commit).
    webhook_group_commit: bool = _declared("webhook_group_commit")
    # Empty: any source. Otherwise only these networks may post webhooks.
    webhook_allowed_sources: tuple[IPv4Network | IPv6Network, ...] = _declared(
        "webhook_allowed_sources")
    # Proxies in front of the service whose X-Forwarded-For is trusted (Heroku: 1).
    trusted_proxy_hops: int = _declared("trusted_proxy_hops")
    oauth_admin_password: str | None = _declared("oauth_admin_password")
    oauth_token_lifetime: int = _declared("oauth_token_lifetime")
    oauth_redirect_uris: tuple[str, ...] = _declared("oauth_redirect_uris")
    templates_dir: str | None = _declared("templates_dir")
    public_url: str | None = _declared("public_url")  # https://host, to print webhook URLs
    port: int = _declared("port")
    web_concurrency: int = _declared("web_concurrency")
    web_threads: int = _declared("web_threads")
    delivery_threads: int = _declared("delivery_threads")
    # Where ``serve`` runs those threads: "child", a ``python -m bot worker`` process started
    # and stopped by each web worker, so webhooks and delivery do not share one interpreter
    # lock; "inline", in the web worker itself (one process, less memory); "auto" (the
    # default), child with PostgreSQL and inline with SQLite (see ``delivers_in_child``).
    delivery_process: str = _declared("delivery_process")
    # Seconds between two posts to one channel: Slack allows about one per second.
    slack_post_interval: float = _declared("slack_post_interval")
    slack_timeout: float = _declared("slack_timeout")  # seconds per Slack API call
    # chat.update calls per workspace per minute, shared by every process (Slack's Tier 3
    # allows about 50, bursts included); 0: not paced.
    slack_updates_per_minute: int = _declared("slack_updates_per_minute")
    # At most one conversations.history (and one .replies) read per workspace this often,
    # to look for a post whose answer was lost: Slack allows apps installed outside the
    # Marketplace about one a minute.
    slack_lookup_interval: float = _declared("slack_lookup_interval")
    # A job still failing (5xx, timeouts) this long after it was queued is dead-lettered.
    delivery_max_age: int = _declared("delivery_max_age")
    # FULL makes every accepted webhook survive a power cut, not only a crash.
    sqlite_synchronous: str = _declared("sqlite_synchronous")
    log_level: str = _declared("log_level")
    # The ThousandEyes account's IANA zone: unzoned dates are local times there; None
    # (not set) reads them as UTC. See bot.thousandeyes.dates.
    thousandeyes_timezone: str | None = _declared("thousandeyes_timezone")
    # An open alert with no event for this long is shown as "no news" (None: never).
    stale_after: timedelta | None = _declared("stale_after")
    # Noise control. An alert unacknowledged this long gets a reminder in its thread
    # (None: never), up to ``reminder_repeat`` times, each that long after the last.
    reminder_after: timedelta | None = _declared("reminder_after")
    reminder_repeat: int = _declared("reminder_repeat")
    # A new alertId for a rule and test this soon after the last one cleared threads
    # under its parent as "triggered again" (None: always a new parent).
    flap_window: timedelta | None = _declared("flap_window")
    # Storm roll-ups (bot.store.storms): more than ``storm_threshold`` new alerts waiting
    # for one channel, or first seen within ``storm_window``, are posted as one roll-up
    # parent; alerts join it until the channel has been quiet for ``storm_quiet``.
    storm_rollup: bool = _declared("storm_rollup")
    storm_threshold: int = _declared("storm_threshold")
    storm_window: timedelta = _declared("storm_window")
    storm_quiet: timedelta = _declared("storm_quiet")
    # Operating it (bot.metrics*, bot.health, bot.logformat).
    metrics_token: str | None = _declared("metrics_token")  # Bearer for GET /metrics
    log_format: str = _declared("log_format")  # "json": one JSON object per line
    # /healthz answers 503 when a job has been due this long and no job was claimed or
    # finished meanwhile (None: never).
    delivery_stuck_after: timedelta | None = _declared("delivery_stuck_after")
    # prometheus_client's multiprocess directory (PROMETHEUS_MULTIPROC_DIR), shared by
    # every process of one host whose counters /metrics adds up.
    metrics_dir: str | None = _declared("metrics_dir")
    # ``python -m bot worker`` serves its own GET /metrics on this port (None: it does not).
    metrics_port: int | None = _declared("metrics_port")
    # Finished jobs, events and cleared alerts older than this are deleted in the
    # background (bot.store.pruning); None (RETENTION=off): everything is kept.
    retention: timedelta | None = _declared("retention")
    # The ThousandEyes API link: off while the token is unset.
    thousandeyes_api_token: str | None = _declared("thousandeyes_api_token")
    thousandeyes_api_url: str = _declared("thousandeyes_api_url")
    thousandeyes_account_group: str | None = _declared("thousandeyes_account_group")
    thousandeyes_sync_interval: timedelta | None = _declared("thousandeyes_sync_interval")


    def parse_options(self) -> ParseOptions:
        """What parsing ThousandEyes payloads needs from the configuration."""
        return ParseOptions.for_timezone(self.thousandeyes_timezone)

    @property
    def slack_mode(self) -> SlackMode:
        if self.slack_client_id and self.slack_client_secret:
            return SlackMode.MULTI
        if self.slack_bot_token:
            return SlackMode.SINGLE
        return SlackMode.LOG_ONLY

    @property
    def default_route_has_workspace(self) -> bool:
        """Whether ``/webhooks/thousandeyes`` (no route id) has somewhere to deliver: the
        one bot token, or the log. With many workspaces and no default token it has not:
        each channel gets its own route from ``/thousandeyes connect``."""
        return self.slack_mode is not SlackMode.MULTI or bool(self.slack_bot_token)

    @property
    def clicks_arrive(self) -> bool:
        """Whether Slack can deliver a button click here: the service posts (a bot token
        or many workspaces) and Slack can reach it (a signing secret for HTTP, or an app
        token for Socket Mode). When not, messages carry no Acknowledge button."""
        return self.slack_mode is not SlackMode.LOG_ONLY and bool(
            self.slack_signing_secret or self.slack_app_token)

    @property
    def shows_click_buttons(self) -> bool:
        """Acknowledge buttons in messages: where clicks arrive, and in log-only mode,
        whose log shows each message as Slack would once it is configured."""
        return self.clicks_arrive or self.slack_mode is SlackMode.LOG_ONLY

    @property
    def delivers_in_child(self) -> bool:
        """Whether each web worker of ``serve`` starts a delivery process of its own.

        ``auto``: with PostgreSQL, whose transactions wait on the client between
        statements, delivery threads beside the web threads held webhooks' transactions
        open while they took the interpreter lock (webhook p99 at 100/s 4.7x that with
        delivery off; 1.4x with a delivery process). With SQLite the one writer already
        takes turns, and the two processes' turns on it cost ingest about a tenth."""
        if self.delivery_threads == 0:
            return False
        if self.delivery_process == "auto":
            return not self.database_url.startswith("sqlite")
        return self.delivery_process == "child"

    @property
    def te_oauth_server(self) -> bool:
        """Whether this service is the OAuth server ThousandEyes gets webhook tokens from."""
        return bool(self.oauth_admin_password)

    def with_overrides(self, **changes: Any) -> Config:
        return replace(self, **changes)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, dotenv_path: str | Path | None = ".env"
    ) -> Config:
        """Read settings; the real environment wins over ``.env``.

        Raises :class:`ConfigError` naming every variable that is wrong, so a user fixes
        them all in one go.
        """
        merged: dict[str, str] = {}
        if dotenv_path is not None and Path(dotenv_path).is_file():
            merged.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
        merged.update(os.environ if environ is None else environ)
        return cls.from_mapping(merged)

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> Config:
        """Settings from ``env`` alone; :class:`ConfigError` names every wrong variable."""
        return cls(**read_settings(env))  # type: ignore[arg-type]

    def describe(self) -> dict[str, object]:
        """Settings safe to log: secrets are reported only as set or not set."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            secret = SETTINGS_BY_FIELD[f.name].secret
            out[f.name] = ("set" if value else "not set") if secret else value
        out["database_url"] = redact_database_url(self.database_url)
        return out

