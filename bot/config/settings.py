"""Every setting, declared once: its variable, kind, default, bounds, help and whether it
is a secret.

The reader (:mod:`bot.config.reader`) reads the environment against this table, the
:class:`~bot.config.model.Config` dataclass takes its field defaults from it, and a test
holds the README's settings table and ``app.json`` to it. A new setting is one entry here,
one typed field in the model, one row in the README (and app.json when Heroku users set it).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

THOUSANDEYES_SOURCE_RANGE = "192.150.160.0/24"  # where ThousandEyes sends webhooks from
THOUSANDEYES_OAUTH_CALLBACKS = (
    "https://app.thousandeyes.com/webhooks-oauth-callback/",
    "https://app.thousandeyes.com/webhooks-oauth-callback",
)
# Webhook credentials anyone on the internet may guess at: long enough that guessing
# cannot succeed, even at the pace the lockout (bot.store.lockout) leaves a guesser.
MIN_WEBHOOK_TOKEN = 16
MIN_BASIC_PASSWORD = 12


class Kind(enum.Enum):
    """How a variable's text becomes a value; the reader has one parser per kind."""

    TEXT = "text"  # stripped; empty is unset
    BOT_TOKEN = "bot token"  # xoxb- (xoxe.xoxb- with token rotation); only the prefix is echoed
    APP_TOKEN = "app token"  # xapp-; only the prefix is echoed
    DATABASE_URL = "database URL"  # text, Heroku's postgres:// made psycopg 3's
    URL = "URL"  # http(s), ending in "/"
    PUBLIC_URL = "public URL"  # http(s), no trailing "/"
    URL_LIST = "URL list"  # comma-separated https URLs
    CHANNEL = "channel"  # C0123456789 or #name
    COMMAND = "command"  # /name
    BOOLEAN = "boolean"
    INTEGER = "integer"
    RATE = "rate"  # an integer, or off/0: not limited
    NUMBER = "number"
    CHOICE = "choice"  # one of ``choices``, any case
    SECRET = "secret"  # text of at least ``min_length`` characters, never echoed
    BASIC_AUTH = "basic auth"  # user:password, the password at least ``min_length`` long
    NETWORKS = "networks"  # comma-separated CIDRs; "thousandeyes" is its source range
    TIMEZONE = "timezone"  # an IANA name
    DURATION = "duration"  # 24h, 90m, 1h30m; off/0: ``off``
    DIRECTORY = "directory"  # an existing directory
    API_URL = "API URL"  # https (http only to this host), no trailing "/"
    ACCOUNT_GROUP = "account group"  # a ThousandEyes aid: digits


@dataclass(frozen=True)
class Setting:
    """One environment variable and the :class:`Config` field it fills."""

    name: str
    kind: Kind
    help: str
    default: Any = None
    # Bounds: numbers and durations between minimum and maximum; secrets' length.
    minimum: Any = None
    maximum: Any = None
    min_length: int = 0
    choices: tuple[str, ...] = ()
    off: Any = None  # a duration's value for "off" or "0"
    secret: bool = False  # never logged, echoed nor shown in repr
    field_name: str | None = None  # when the Config field is not the lowercased name
    # The README's default cell when the default is not something one would type.
    default_shown: str | None = None

    @property
    def field(self) -> str:
        return self.field_name or self.name.lower()


_MINUTE = timedelta(minutes=1)
_SECOND = timedelta(seconds=1)

# Why each default and bound is what it is: the comment on its field in bot.config.model.
SETTINGS: tuple[Setting, ...] = (
    Setting("DATABASE_URL", Kind.DATABASE_URL, "SQLite file or PostgreSQL URL",
            default="sqlite:///data/thousandeyes-bot.sqlite3"),
    Setting("SLACK_BOT_TOKEN", Kind.BOT_TOKEN, "bot token (xoxb-…) of one workspace", secret=True),
    Setting("SLACK_SIGNING_SECRET", Kind.TEXT, "verifies requests from Slack", secret=True),
    Setting("SLACK_APP_TOKEN", Kind.APP_TOKEN, "app-level token (xapp-…) for Socket Mode",
            secret=True),
    Setting("SLACK_CLIENT_ID", Kind.TEXT, "install to many workspaces"),
    Setting("SLACK_CLIENT_SECRET", Kind.TEXT, "install to many workspaces", secret=True),
    Setting("SLACK_API_URL", Kind.URL, "Slack Web API base URL",
            default="https://slack.com/api/"),
    Setting("SLACK_CHANNEL", Kind.CHANNEL, "default channel: an id or #name"),
    Setting("SLACK_BROADCAST_CLEARS", Kind.BOOLEAN, "also show clear replies in the channel",
            default=False),
    Setting("SLACK_COMMAND", Kind.COMMAND, "the slash command's name, as in the manifest",
            default="/thousandeyes"),
    Setting("WEBHOOK_TOKEN", Kind.SECRET, "Bearer token ThousandEyes must send",
            min_length=MIN_WEBHOOK_TOKEN, secret=True),
    Setting("WEBHOOK_BASIC_AUTH", Kind.BASIC_AUTH, "user:password ThousandEyes must send",
            min_length=MIN_BASIC_PASSWORD, secret=True),
    Setting("WEBHOOK_GROUP_COMMIT", Kind.BOOLEAN, "store webhooks arriving together in one"
            " transaction", default=True),
    Setting("WEBHOOK_MAX_BODY_BYTES", Kind.INTEGER, "larger webhook bodies get 413",
            default=1024 * 1024, minimum=1024),
    Setting("WEBHOOK_ALLOWED_SOURCES", Kind.NETWORKS, "networks allowed to post webhooks",
            default=()),
    Setting("TRUSTED_PROXY_HOPS", Kind.INTEGER, "proxies whose X-Forwarded-For is trusted",
            default=0, minimum=0, maximum=5),
    Setting("OAUTH_ADMIN_PASSWORD", Kind.SECRET, "enables the OAuth server for ThousandEyes",
            min_length=MIN_BASIC_PASSWORD, secret=True),
    Setting("OAUTH_TOKEN_LIFETIME", Kind.INTEGER, "seconds an OAuth token stays valid",
            default=365 * 86400, minimum=60, maximum=10 * 365 * 86400),
    Setting("OAUTH_REDIRECT_URIS", Kind.URL_LIST, "allowlist of OAuth redirect URIs",
            default=THOUSANDEYES_OAUTH_CALLBACKS, default_shown="ThousandEyes' callback"),
    Setting("TEMPLATES_DIR", Kind.DIRECTORY, "directory of template overrides"),
    Setting("PUBLIC_URL", Kind.PUBLIC_URL, "https://host, to print webhook and install URLs"),
    Setting("PORT", Kind.INTEGER, "HTTP port of serve", default=3000, minimum=1,
            maximum=65535),
    Setting("WEB_CONCURRENCY", Kind.INTEGER, "gunicorn processes", default=1, minimum=1,
            maximum=64),
    Setting("WEB_THREADS", Kind.INTEGER, "app threads per process", default=8, minimum=1,
            maximum=256),
    Setting("DELIVERY_THREADS", Kind.INTEGER, "delivery threads per process (0: none)",
            default=4, minimum=0, maximum=64),
    Setting("DELIVERY_PROCESS", Kind.CHOICE, "where serve delivers: child (a process of its"
            " own beside each web worker), inline (threads in the web worker) or auto (child"
            " with PostgreSQL, inline with SQLite)",
            default="auto", choices=("auto", "child", "inline")),
    Setting("SLACK_POST_INTERVAL", Kind.NUMBER, "seconds between two posts to one channel",
            default=1.0, minimum=0.0),
    Setting("SLACK_TIMEOUT", Kind.NUMBER, "seconds per Slack API call", default=10.0,
            minimum=0.1, maximum=60.0),
    Setting("SLACK_UPDATES_PER_MINUTE", Kind.RATE, "chat.update calls per workspace per"
            " minute (off: not paced)", default=50, minimum=5, maximum=1000),
    Setting("SLACK_LOOKUP_INTERVAL", Kind.NUMBER, "seconds between two reads per workspace"
            " looking for a post whose answer was lost", default=60.0, minimum=0.0),
    Setting("DELIVERY_MAX_AGE", Kind.INTEGER, "seconds after which a job still failing is"
            " dead-lettered", default=24 * 3600, minimum=60),
    Setting("SQLITE_SYNCHRONOUS", Kind.CHOICE, "SQLite durability", default="FULL",
            choices=("FULL", "NORMAL", "EXTRA")),
    Setting("LOG_LEVEL", Kind.CHOICE, "log level", default="INFO",
            choices=("DEBUG", "INFO", "WARNING", "ERROR")),
    Setting("THOUSANDEYES_TIMEZONE", Kind.TIMEZONE, "the ThousandEyes account's IANA zone",
            default_shown="UTC"),
    Setting("STALE_AFTER", Kind.DURATION, "an open alert with no event this long shows"
            " 'no news'", minimum=_MINUTE),
    Setting("REMINDER_AFTER", Kind.DURATION, "remind about an alert unacknowledged this"
            " long", minimum=_MINUTE),
    # Each reminder is queued at the trigger, so the count is bounded.
    Setting("REMINDER_REPEAT", Kind.INTEGER, "how many reminders", default=1, minimum=1,
            maximum=10),
    Setting("FLAP_WINDOW", Kind.DURATION, "a new alert this soon after the last one cleared"
            " threads under it", default=timedelta(minutes=10), minimum=_SECOND),
    Setting("STORM_ROLLUP", Kind.BOOLEAN, "one roll-up message for a storm of alerts",
            default=True),
    Setting("STORM_THRESHOLD", Kind.INTEGER, "more new alerts than this waiting for one"
            " channel start a storm", default=5, minimum=1),
    Setting("STORM_WINDOW", Kind.DURATION, "more than STORM_THRESHOLD new alerts within this"
            " start a storm", default=timedelta(seconds=30), minimum=_SECOND,
            off=timedelta(0)),
    Setting("STORM_QUIET", Kind.DURATION, "a storm ends after this long without a new alert",
            default=timedelta(minutes=5), minimum=_SECOND, off=timedelta(0)),
    Setting("METRICS_TOKEN", Kind.SECRET, "Bearer token GET /metrics requires",
            min_length=16, secret=True),
    Setting("LOG_FORMAT", Kind.CHOICE, "text, or json: one JSON object per line",
            default="text", choices=("text", "json")),
    Setting("DELIVERY_STUCK_AFTER", Kind.DURATION, "/healthz answers 503 when a job has been"
            " due this long with no progress", default=timedelta(minutes=5),
            minimum=_SECOND),
    Setting("PROMETHEUS_MULTIPROC_DIR", Kind.DIRECTORY, "multiprocess metrics directory",
            field_name="metrics_dir"),
    Setting("METRICS_PORT", Kind.INTEGER, "the worker's own GET /metrics port", minimum=1,
            maximum=65535),
    Setting("RETENTION", Kind.DURATION, "finished jobs, events and cleared alerts older than"
            " this are deleted in the background", default=timedelta(days=30),
            minimum=timedelta(days=1)),
    # The ThousandEyes API link (bot.thousandeyes.api_client, bot.delivery.api_sync): off
    # while the token is unset. A sync interval of off keeps the link for other uses.
    Setting("THOUSANDEYES_API_TOKEN", Kind.SECRET, "a ThousandEyes user API bearer token",
            min_length=16, secret=True),
    Setting("THOUSANDEYES_API_URL", Kind.API_URL, "ThousandEyes API v7 base URL",
            default="https://api.thousandeyes.com/v7"),
    Setting("THOUSANDEYES_ACCOUNT_GROUP", Kind.ACCOUNT_GROUP, "the account group (aid) the"
            " API is asked about"),
    Setting("THOUSANDEYES_SYNC_INTERVAL", Kind.DURATION, "how often alerts are reconciled"
            " with the ThousandEyes API", default=timedelta(minutes=5),
            minimum=timedelta(seconds=10)),
)

SETTINGS_BY_FIELD: dict[str, Setting] = {setting.field: setting for setting in SETTINGS}


def short_duration(duration: timedelta) -> str:
    """A duration as a user writes it: ``1m``, ``30s``, ``2h``."""
    seconds = int(duration.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
