"""Configuration from the environment (and an optional ``.env`` file), validated once.

Nothing here runs at import time: :meth:`Config.from_env` is called by the CLI and by
``create_app`` when no config is injected, so tests build a :class:`Config` directly.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path

from dotenv import dotenv_values

from bot.thousandeyes.options import ParseOptions
from bot.thousandeyes.zones import UnknownTimezone, load_timezone

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_PORT = 3000
DEFAULT_THOUSANDEYES_API_URL = "https://api.thousandeyes.com/v7"
# Webhook credentials anyone on the internet may guess at: long enough that guessing
# cannot succeed, even at the pace the lockout (bot.store.lockout) leaves a guesser.
MIN_WEBHOOK_TOKEN = 16
MIN_BASIC_PASSWORD = 12

THOUSANDEYES_SOURCE_RANGE = "192.150.160.0/24"  # where ThousandEyes sends webhooks from
THOUSANDEYES_OAUTH_CALLBACKS = (
    "https://app.thousandeyes.com/webhooks-oauth-callback/",
    "https://app.thousandeyes.com/webhooks-oauth-callback",
)
_CHANNEL_PATTERN = re.compile(r"^(#[a-z0-9_\-.]{1,80}|[CGD][A-Z0-9]{2,30})$")
_DURATION_PART = re.compile(r"(\d+)\s*([dhms])", re.IGNORECASE)
_DURATION_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_OFF = ("off", "0", "none", "false", "no")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


class SlackMode(str, enum.Enum):
    """How the service talks to Slack, decided once from the credentials."""

    LOG_ONLY = "log-only"  # no credentials: every message is written to the log
    SINGLE = "single"  # one workspace: SLACK_BOT_TOKEN
    # Installed to many workspaces (SLACK_CLIENT_ID/SECRET); a SLACK_BOT_TOKEN beside them
    # is the workspace of the default route.
    MULTI = "multi"


@dataclass(frozen=True)
class Config:
    database_url: str = "sqlite:///data/thousandeyes-bot.sqlite3"
    slack_bot_token: str | None = field(default=None, repr=False)
    slack_signing_secret: str | None = field(default=None, repr=False)
    slack_app_token: str | None = field(default=None, repr=False)
    slack_client_id: str | None = None
    slack_client_secret: str | None = field(default=None, repr=False)
    slack_api_url: str = DEFAULT_SLACK_API_URL
    slack_channel: str | None = None
    slack_broadcast_clears: bool = False
    slack_command: str = "/thousandeyes"
    webhook_token: str | None = field(default=None, repr=False)
    webhook_basic_auth: tuple[str, str] | None = field(default=None, repr=False)
    webhook_max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # Webhooks waiting at once are committed in one transaction (bot.store.group_commit).
    webhook_group_commit: bool = True
    # Empty: any source. Otherwise only these networks may post webhooks.
    webhook_allowed_sources: tuple[IPv4Network | IPv6Network, ...] = ()
    # Proxies in front of the service whose X-Forwarded-For is trusted (Heroku: 1).
    trusted_proxy_hops: int = 0
    oauth_admin_password: str | None = field(default=None, repr=False)
    oauth_token_lifetime: int = 365 * 86400
    oauth_redirect_uris: tuple[str, ...] = THOUSANDEYES_OAUTH_CALLBACKS
    templates_dir: str | None = None
    public_url: str | None = None  # https://host, used to print webhook and install URLs
    port: int = DEFAULT_PORT
    web_concurrency: int = 1
    web_threads: int = 8
    delivery_threads: int = 4
    # Seconds between two posts to one channel: Slack allows about one per second.
    slack_post_interval: float = 1.0
    slack_timeout: float = 10.0  # seconds per Slack API call
    # chat.update calls per workspace per minute, shared by every process (Slack's Tier 3
    # allows about 50, bursts included); 0: not paced.
    slack_updates_per_minute: int = 50
    # At most one conversations.history (and one .replies) read per workspace this often,
    # to look for a post whose answer was lost: Slack allows apps installed outside the
    # Marketplace about one a minute.
    slack_lookup_interval: float = 60.0
    # A job still failing (5xx, timeouts) this long after it was queued is dead-lettered.
    delivery_max_age: int = 24 * 3600
    # FULL makes every accepted webhook survive a power cut, not only a crash.
    sqlite_synchronous: str = "FULL"
    log_level: str = "INFO"
    # The ThousandEyes account's IANA zone: unzoned dates are local times there; None
    # (not set) reads them as UTC. See bot.thousandeyes.dates.
    thousandeyes_timezone: str | None = None
    # An open alert with no event for this long is shown as "no news" (None: never).
    stale_after: timedelta | None = None
    # Noise control. An alert unacknowledged this long gets a reminder in its thread
    # (None: never), up to ``reminder_repeat`` times, each that long after the last.
    reminder_after: timedelta | None = None
    reminder_repeat: int = 1
    # A new alertId for a rule and test this soon after the last one cleared threads
    # under its parent as "triggered again" (None: always a new parent).
    flap_window: timedelta | None = timedelta(minutes=10)
    # Storm roll-ups (bot.store.storms): more than ``storm_threshold`` new alerts waiting
    # for one channel, or first seen within ``storm_window``, are posted as one roll-up
    # parent; alerts join it until the channel has been quiet for ``storm_quiet``.
    storm_rollup: bool = True
    storm_threshold: int = 5
    storm_window: timedelta = timedelta(seconds=30)
    storm_quiet: timedelta = timedelta(minutes=5)
    # Operating it (bot.metrics*, bot.health, bot.logformat).
    metrics_token: str | None = field(default=None, repr=False)  # Bearer for GET /metrics
    log_format: str = "text"  # "json": one JSON object per line
    # /healthz answers 503 when a job has been due this long and no job was claimed or
    # finished meanwhile (None: never).
    delivery_stuck_after: timedelta | None = timedelta(minutes=5)
    # The ThousandEyes API link (bot.thousandeyes.api_client, bot.sync): off while the
    # token is unset. A sync interval of None (``off``) keeps the link for other uses.
    thousandeyes_api_token: str | None = field(default=None, repr=False)
    thousandeyes_api_url: str = DEFAULT_THOUSANDEYES_API_URL
    thousandeyes_account_group: str | None = None
    thousandeyes_sync_interval: timedelta | None = timedelta(minutes=5)
    # prometheus_client's multiprocess directory (PROMETHEUS_MULTIPROC_DIR), shared by
    # every process of one host whose counters /metrics adds up.
    metrics_dir: str | None = None
    # ``python -m bot worker`` serves its own GET /metrics on this port (None: it does not).
    metrics_port: int | None = None

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
    def te_oauth_server(self) -> bool:
        """Whether this service is the OAuth server ThousandEyes gets webhook tokens from."""
        return bool(self.oauth_admin_password)

    def with_overrides(self, **changes: object) -> Config:
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
        problems: list[str] = []
        reader = _Reader(env, problems)
        config = cls(
            database_url=normalise_database_url(
                reader.text("DATABASE_URL") or cls.database_url
            ),
            slack_bot_token=reader.text("SLACK_BOT_TOKEN"),
            slack_signing_secret=reader.text("SLACK_SIGNING_SECRET"),
            slack_app_token=reader.text("SLACK_APP_TOKEN"),
            slack_client_id=reader.text("SLACK_CLIENT_ID"),
            slack_client_secret=reader.text("SLACK_CLIENT_SECRET"),
            slack_api_url=reader.url("SLACK_API_URL") or DEFAULT_SLACK_API_URL,
            slack_channel=reader.channel("SLACK_CHANNEL"),
            slack_broadcast_clears=reader.boolean("SLACK_BROADCAST_CLEARS", False),
            slack_command=reader.command("SLACK_COMMAND") or "/thousandeyes",
            webhook_token=reader.secret("WEBHOOK_TOKEN", min_length=MIN_WEBHOOK_TOKEN),
            webhook_basic_auth=reader.basic_auth("WEBHOOK_BASIC_AUTH"),
            webhook_group_commit=reader.boolean("WEBHOOK_GROUP_COMMIT", True),
            webhook_max_body_bytes=reader.integer(
                "WEBHOOK_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, minimum=1024
            ),
            webhook_allowed_sources=reader.networks("WEBHOOK_ALLOWED_SOURCES"),
            trusted_proxy_hops=reader.integer("TRUSTED_PROXY_HOPS", 0, minimum=0, maximum=5),
            oauth_admin_password=reader.secret("OAUTH_ADMIN_PASSWORD", min_length=12),
            oauth_token_lifetime=reader.integer(
                "OAUTH_TOKEN_LIFETIME", 365 * 86400, minimum=60, maximum=10 * 365 * 86400),
            oauth_redirect_uris=reader.url_list("OAUTH_REDIRECT_URIS")
            or THOUSANDEYES_OAUTH_CALLBACKS,
            templates_dir=reader.directory("TEMPLATES_DIR"),
            public_url=(reader.url("PUBLIC_URL") or "").rstrip("/") or None,
            port=reader.integer("PORT", DEFAULT_PORT, minimum=1, maximum=65535),
            web_concurrency=reader.integer("WEB_CONCURRENCY", 1, minimum=1, maximum=64),
            web_threads=reader.integer("WEB_THREADS", 8, minimum=1, maximum=256),
            delivery_threads=reader.integer("DELIVERY_THREADS", 4, minimum=0, maximum=64),
            slack_post_interval=reader.number("SLACK_POST_INTERVAL", 1.0, minimum=0.0),
            slack_timeout=reader.number("SLACK_TIMEOUT", 10.0, minimum=0.1, maximum=60.0),
            slack_updates_per_minute=reader.rate("SLACK_UPDATES_PER_MINUTE", 50, minimum=5,
                                                 maximum=1000),
            slack_lookup_interval=reader.number("SLACK_LOOKUP_INTERVAL", 60.0, minimum=0.0),
            delivery_max_age=reader.integer("DELIVERY_MAX_AGE", 24 * 3600, minimum=60),
            sqlite_synchronous=reader.choice(
                "SQLITE_SYNCHRONOUS", "FULL", ("FULL", "NORMAL", "EXTRA")
            ),
            log_level=reader.choice(
                "LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")
            ),
            thousandeyes_timezone=reader.timezone("THOUSANDEYES_TIMEZONE"),
            stale_after=reader.duration("STALE_AFTER", None, minimum=timedelta(minutes=1)),
            reminder_after=reader.duration("REMINDER_AFTER", None, minimum=timedelta(minutes=1)),
            # Each reminder is queued at the trigger, so the count is bounded.
            reminder_repeat=reader.integer("REMINDER_REPEAT", 1, minimum=1, maximum=10),
            flap_window=reader.duration("FLAP_WINDOW", timedelta(minutes=10),
                                        minimum=timedelta(seconds=1)),
            storm_rollup=reader.boolean("STORM_ROLLUP", True),
            storm_threshold=reader.integer("STORM_THRESHOLD", 5, minimum=1),
            storm_window=reader.duration("STORM_WINDOW", timedelta(seconds=30),
                                         minimum=timedelta(seconds=1)) or timedelta(0),
            storm_quiet=reader.duration("STORM_QUIET", timedelta(minutes=5),
                                        minimum=timedelta(seconds=1)) or timedelta(0),
            metrics_token=reader.secret("METRICS_TOKEN", min_length=16),
            log_format=reader.choice("LOG_FORMAT", "TEXT", ("TEXT", "JSON")).lower(),
            delivery_stuck_after=reader.duration(
                "DELIVERY_STUCK_AFTER", timedelta(minutes=5), minimum=timedelta(seconds=1)),
            metrics_dir=reader.directory("PROMETHEUS_MULTIPROC_DIR"),
            metrics_port=reader.integer("METRICS_PORT", 0, minimum=1, maximum=65535) or None,
            thousandeyes_api_token=reader.secret("THOUSANDEYES_API_TOKEN", min_length=16),
            thousandeyes_api_url=reader.api_url("THOUSANDEYES_API_URL")
            or DEFAULT_THOUSANDEYES_API_URL,
            thousandeyes_account_group=reader.account_group("THOUSANDEYES_ACCOUNT_GROUP"),
            thousandeyes_sync_interval=reader.duration(
                "THOUSANDEYES_SYNC_INTERVAL", timedelta(minutes=5), minimum=timedelta(seconds=10)),
        )
        if problems:
            raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
        return config

    def describe(self) -> dict[str, object]:
        """Settings safe to log: secrets are reported only as set or not set."""
        secret = {"slack_bot_token", "slack_signing_secret", "slack_app_token",
                  "slack_client_secret", "webhook_token", "webhook_basic_auth",
                  "oauth_admin_password", "metrics_token", "thousandeyes_api_token"}
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = ("set" if value else "not set") if f.name in secret else value
        out["database_url"] = redact_database_url(self.database_url)
        return out


def normalise_database_url(url: str) -> str:
    """Accept Heroku's ``postgres://`` and pick the psycopg 3 driver for PostgreSQL."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def parse_duration(text: str) -> timedelta:
    """``24h``, ``90m``, ``45s``, ``2d``, ``1h30m``: whole numbers, each unit at most once,
    largest first. Raises ValueError saying what is wrong."""
    value = text.strip()
    parts = _DURATION_PART.findall(value)
    if not parts or _DURATION_PART.sub("", value).strip():
        if value.isdigit():
            raise ValueError(f"{value!r} needs a unit, like {value}h, 90m or 45s")
        raise ValueError(f"{value[:20]!r} is not a duration like 24h, 90m or 45s")
    units = [unit.lower() for _, unit in parts]
    if units != sorted(set(units), key="dhms".index):
        raise ValueError(f"{value[:20]!r} is not a duration like 24h, 90m or 45s"
                         " (each unit once, largest first)")
    return timedelta(**{_DURATION_UNITS[unit]: int(number) for number, unit in
                        ((n, u.lower()) for n, u in parts)})


def redact_database_url(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


class _Reader:
    """Reads one variable at a time, collecting problems instead of stopping at the first."""

    def __init__(self, env: Mapping[str, str], problems: list[str]) -> None:
        self._env = env
        self._problems = problems

    def text(self, name: str) -> str | None:
        value = self._env.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def url(self, name: str) -> str | None:
        value = self.text(name)
        if value is None:
            return None
        if not re.match(r"^https?://[^\s/]+", value):
            self._problems.append(f"{name}: must be an http(s) URL, got {value[:60]!r}")
            return None
        return value if value.endswith("/") else value + "/"

    def api_url(self, name: str) -> str | None:
        """An https base URL without a trailing slash (the SDK appends ``/alerts``); plain
        http only to this host, so a bearer token never crosses a network in the clear."""
        value = self.url(name)
        if value is None:
            return None
        host = value.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
        if value.startswith("http://") and host not in ("127.0.0.1", "localhost", "::1"):
            self._problems.append(f"{name}: must be an https URL (the token would travel in"
                                  f" the clear), got {value[:60]!r}")
            return None
        return value.rstrip("/")

    def account_group(self, name: str) -> str | None:
        """A ThousandEyes account group id (``aid``): digits."""
        value = self.text(name)
        if value is not None and not value.isdigit():
            self._problems.append(f"{name}: must be an account group id (digits, as in"
                                  f" Account Settings), got {value[:30]!r}")
            return None
        return value

    def channel(self, name: str) -> str | None:
        value = self.text(name)
        if value is None:
            return None
        if not _CHANNEL_PATTERN.match(value):
            self._problems.append(
                f"{name}: must be a channel id like C0123456789 or a name like #alerts,"
                f" got {value[:60]!r}"
            )
            return None
        return value

    def command(self, name: str) -> str | None:
        value = self.text(name)
        if value is None:
            return None
        if not re.match(r"^/[a-z0-9_\-]{1,31}$", value):
            self._problems.append(f"{name}: must look like /thousandeyes, got {value[:40]!r}")
            return None
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.text(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        self._problems.append(f"{name}: must be true or false, got {value[:20]!r}")
        return default

    def integer(self, name: str, default: int, minimum: int, maximum: int | None = None) -> int:
        value = self.text(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            self._problems.append(f"{name}: must be a whole number, got {value[:20]!r}")
            return default
        if number < minimum or (maximum is not None and number > maximum):
            bound = f"between {minimum} and {maximum}" if maximum else f"at least {minimum}"
            self._problems.append(f"{name}: must be {bound}, got {number}")
            return default
        return number

    def rate(self, name: str, default: int, minimum: int, maximum: int) -> int:
        """A whole number between ``minimum`` and ``maximum``, or ``0``/``off``: not limited."""
        value = self.text(name)
        if value is not None and value.lower() in _OFF:
            return 0
        return self.integer(name, default, minimum, maximum)

    def number(self, name: str, default: float, minimum: float,
               maximum: float | None = None) -> float:
        value = self.text(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            self._problems.append(f"{name}: must be a number, got {value[:20]!r}")
            return default
        if number < minimum or (maximum is not None and number > maximum):
            bound = f"between {minimum:g} and {maximum:g}" if maximum else f"at least {minimum:g}"
            self._problems.append(f"{name}: must be {bound}, got {number:g}")
            return default
        return number

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.text(name)
        if value is None:
            return default
        if value.upper() not in allowed:
            self._problems.append(f"{name}: must be one of {', '.join(allowed)}, got {value[:20]!r}")
            return default
        return value.upper()

    def basic_auth(self, name: str) -> tuple[str, str] | None:
        value = self.text(name)
        if value is None:
            return None
        user, sep, password = value.partition(":")
        if not sep or not user or not password:
            # Never echo the value: it is a credential.
            self._problems.append(f"{name}: must have the form user:password (both non-empty)")
            return None
        if len(password) < MIN_BASIC_PASSWORD:
            self._problems.append(f"{name}: the password must be at least"
                                  f" {MIN_BASIC_PASSWORD} characters long")
            return None
        return user, password

    def secret(self, name: str, min_length: int) -> str | None:
        value = self.text(name)
        if value is not None and len(value) < min_length:
            self._problems.append(f"{name}: must be at least {min_length} characters long")
            return None
        return value

    def networks(self, name: str) -> tuple[IPv4Network | IPv6Network, ...]:
        """Comma-separated CIDRs; the word ``thousandeyes`` stands for its source range."""
        value = self.text(name)
        if value is None:
            return ()
        networks = []
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            try:
                networks.append(ip_network(
                    THOUSANDEYES_SOURCE_RANGE if part.lower() == "thousandeyes" else part,
                    strict=False,
                ))
            except ValueError:
                self._problems.append(f"{name}: {part[:60]!r} is not a network like 10.0.0.0/8")
        return tuple(networks)

    def url_list(self, name: str) -> tuple[str, ...]:
        value = self.text(name)
        if value is None:
            return ()
        urls = tuple(u.strip() for u in value.split(",") if u.strip())
        for url in urls:
            if not re.match(r"^https://[^\s/]+/", url):
                self._problems.append(f"{name}: {url[:80]!r} is not an https URL")
        return urls

    def timezone(self, name: str) -> str | None:
        value = self.text(name)
        if value is None:
            return None
        try:
            return load_timezone(value).key
        except UnknownTimezone as error:
            self._problems.append(f"{name}: {error}")
            return None

    def duration(self, name: str, default: timedelta | None,
                 minimum: timedelta) -> timedelta | None:
        """A duration such as ``24h`` (:func:`parse_duration`); ``off`` or ``0``: None."""
        value = self.text(name)
        if value is None:
            return default
        if value.lower() in _OFF:
            return None
        try:
            duration = parse_duration(value)
        except ValueError as error:
            self._problems.append(f"{name}: {error}")
            return default
        if duration < minimum:
            self._problems.append(f"{name}: must be at least {_short(minimum)} (or off),"
                                  f" got {value[:20]!r}")
            return default
        return duration

    def directory(self, name: str) -> str | None:
        value = self.text(name)
        if value is None:
            return None
        if not Path(value).is_dir():
            self._problems.append(f"{name}: {value[:120]!r} is not a directory")
            return None
        return value


def _short(duration: timedelta) -> str:
    seconds = int(duration.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
