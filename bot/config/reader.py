"""Reads the environment against the declarations (:mod:`bot.config.settings`).

Every variable is read and every problem collected before anything is refused, so a user
fixes them all in one go; each problem is one line that starts with the variable's name.
A secret's value is never put in a message, only what is wrong with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path

from bot.config.database_url import normalise_database_url
from bot.config.settings import SETTINGS, THOUSANDEYES_SOURCE_RANGE, Kind, Setting, short_duration
from bot.thousandeyes.zones import UnknownTimezone, load_timezone

_CHANNEL_PATTERN = re.compile(r"^(#[a-z0-9_\-.]{1,80}|[CGD][A-Z0-9]{2,30})$")
_DURATION_PART = re.compile(r"(\d+)\s*([dhms])", re.IGNORECASE)
_DURATION_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_OFF = ("off", "0", "none", "false", "no")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


class _Invalid(ValueError):
    """What is wrong with one variable's value: one or more lines, without its name."""

    def __init__(self, *messages: str) -> None:
        super().__init__(messages[0])
        self.messages = messages


def read_settings(env: Mapping[str, str],
                  settings: tuple[Setting, ...] = SETTINGS) -> dict[str, object]:
    """Each declared setting's value by its Config field; unset (or blank) is the default.

    Raises :class:`ConfigError` naming every variable that is wrong.
    """
    values: dict[str, object] = {}
    problems: list[str] = []
    for setting in settings:
        raw = env.get(setting.name)
        text = raw.strip() if raw is not None else ""
        values[setting.field] = setting.default
        if not text:
            continue
        try:
            values[setting.field] = _PARSERS[setting.kind](text, setting)
        except _Invalid as invalid:
            problems.extend(f"{setting.name}: {message}" for message in invalid.messages)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return values


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


def _text(value: str, setting: Setting) -> str:
    return value


# Slack's token prefixes, and what a wrong one most likely is.
BOT_TOKEN_PREFIXES = ("xoxb-", "xoxe.xoxb-")
APP_TOKEN_PREFIXES = ("xapp-",)
_TOKEN_KINDS = {
    "xapp-": " (an app-level token: it belongs in SLACK_APP_TOKEN)",
    "xoxb-": " (a bot token: it belongs in SLACK_BOT_TOKEN)",
    "xoxp-": " (a user token: the service posts as the app's bot, with its xoxb- token)",
}


def _token(value: str, prefixes: tuple[str, ...], kind: str) -> str:
    """A Slack token of the kind its prefix says: swapped tokens would otherwise fail only
    later, at the first post or connection. Only the prefix is repeated, never the token."""
    if not value.startswith(prefixes):
        given = value.split("-", 1)[0] + "-" if "-" in value[:6] else "something else"
        raise _Invalid(f"must be {kind}, starting with {prefixes[0]}; this one starts with"
                       f" {given}{_TOKEN_KINDS.get(given, '')}")
    return value


def _bot_token(value: str, setting: Setting) -> str:
    return _token(value, BOT_TOKEN_PREFIXES, "the Bot User OAuth Token")


def _app_token(value: str, setting: Setting) -> str:
    return _token(value, APP_TOKEN_PREFIXES, "an app-level token (Basic Information)")


def _database_url(value: str, setting: Setting) -> str:
    return normalise_database_url(value)


def _url(value: str, setting: Setting) -> str:
    if not re.match(r"^https?://[^\s/]+", value):
        raise _Invalid(f"must be an http(s) URL, got {value[:60]!r}")
    return value if value.endswith("/") else value + "/"


def _public_url(value: str, setting: Setting) -> str | None:
    return _url(value, setting).rstrip("/") or None


def _api_url(value: str, setting: Setting) -> str:
    """No trailing slash (the SDK appends ``/alerts``); plain http only to this host, so a
    bearer token never crosses a network in the clear."""
    url = _url(value, setting)
    host = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    if url.startswith("http://") and host not in ("127.0.0.1", "localhost", "::1"):
        raise _Invalid(f"must be an https URL (the token would travel in the clear),"
                       f" got {value[:60]!r}")
    return url.rstrip("/")


def _account_group(value: str, setting: Setting) -> str:
    if not value.isdigit():
        raise _Invalid(f"must be an account group id (digits, as in Account Settings),"
                       f" got {value[:30]!r}")
    return value


def _url_list(value: str, setting: Setting) -> tuple[str, ...]:
    urls = tuple(u.strip() for u in value.split(",") if u.strip())
    wrong = [f"{url[:80]!r} is not an https URL" for url in urls
             if not re.match(r"^https://[^\s/]+/", url)]
    if wrong:
        raise _Invalid(*wrong)
    return urls or setting.default


def _channel(value: str, setting: Setting) -> str:
    if not _CHANNEL_PATTERN.match(value):
        raise _Invalid("must be a channel id like C0123456789 or a name like #alerts,"
                       f" got {value[:60]!r}")
    return value


def _command(value: str, setting: Setting) -> str:
    if not re.match(r"^/[a-z0-9_\-]{1,31}$", value):
        raise _Invalid(f"must look like /thousandeyes, got {value[:40]!r}")
    return value


def _boolean(value: str, setting: Setting) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise _Invalid(f"must be true or false, got {value[:20]!r}")


def _integer(value: str, setting: Setting) -> int:
    try:
        number = int(value)
    except ValueError:
        raise _Invalid(f"must be a whole number, got {value[:20]!r}") from None
    _check_bounds(number, setting, "")
    return number


def _check_bounds(number: float, setting: Setting, spec: str) -> None:
    """Refuse a number outside the setting's bounds, written as the user would (``spec``:
    the format of whole numbers, ``""``, or of decimals, ``"g"``)."""
    low, high = setting.minimum, setting.maximum
    if (low is not None and number < low) or (high is not None and number > high):
        bound = (f"between {low:{spec}} and {high:{spec}}" if high is not None
                 else f"at least {low:{spec}}")
        raise _Invalid(f"must be {bound}, got {number:{spec}}")


def _rate(value: str, setting: Setting) -> int:
    """A whole number within the bounds, or ``0``/``off``: not limited."""
    return 0 if value.lower() in _OFF else _integer(value, setting)


def _number(value: str, setting: Setting) -> float:
    try:
        number = float(value)
    except ValueError:
        raise _Invalid(f"must be a number, got {value[:20]!r}") from None
    _check_bounds(number, setting, "g")
    return number


def _choice(value: str, setting: Setting) -> str:
    for choice in setting.choices:
        if value.upper() == choice.upper():
            return choice
    allowed = ", ".join(choice.upper() for choice in setting.choices)
    raise _Invalid(f"must be one of {allowed}, got {value[:20]!r}")


def _secret(value: str, setting: Setting) -> str:
    if len(value) < setting.min_length:
        raise _Invalid(f"must be at least {setting.min_length} characters long")
    return value


def _basic_auth(value: str, setting: Setting) -> tuple[str, str]:
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        # Never echo the value: it is a credential.
        raise _Invalid("must have the form user:password (both non-empty)")
    if len(password) < setting.min_length:
        raise _Invalid(f"the password must be at least {setting.min_length} characters long")
    return user, password


def _networks(value: str, setting: Setting) -> tuple[IPv4Network | IPv6Network, ...]:
    """Comma-separated CIDRs; the word ``thousandeyes`` stands for its source range."""
    networks, wrong = [], []
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        try:
            networks.append(ip_network(
                THOUSANDEYES_SOURCE_RANGE if part.lower() == "thousandeyes" else part,
                strict=False,
            ))
        except ValueError:
            wrong.append(f"{part[:60]!r} is not a network like 10.0.0.0/8")
    if wrong:
        raise _Invalid(*wrong)
    return tuple(networks)


def _timezone(value: str, setting: Setting) -> str:
    try:
        return load_timezone(value).key
    except UnknownTimezone as error:
        raise _Invalid(str(error)) from None


def _duration(value: str, setting: Setting) -> timedelta | None:
    """A duration such as ``24h`` (:func:`parse_duration`); ``off`` or ``0``: the
    setting's ``off``."""
    if value.lower() in _OFF:
        return setting.off  # type: ignore[no-any-return]
    try:
        duration = parse_duration(value)
    except ValueError as error:
        raise _Invalid(str(error)) from None
    if setting.minimum is not None and duration < setting.minimum:
        raise _Invalid(f"must be at least {short_duration(setting.minimum)} (or off),"
                       f" got {value[:20]!r}")
    return duration


def _directory(value: str, setting: Setting) -> str:
    if not Path(value).is_dir():
        raise _Invalid(f"{value[:120]!r} is not a directory")
    return value


_PARSERS: dict[Kind, Callable[[str, Setting], object]] = {
    Kind.TEXT: _text,
    Kind.BOT_TOKEN: _bot_token,
    Kind.APP_TOKEN: _app_token,
    Kind.DATABASE_URL: _database_url,
    Kind.URL: _url,
    Kind.PUBLIC_URL: _public_url,
    Kind.URL_LIST: _url_list,
    Kind.CHANNEL: _channel,
    Kind.COMMAND: _command,
    Kind.BOOLEAN: _boolean,
    Kind.INTEGER: _integer,
    Kind.RATE: _rate,
    Kind.NUMBER: _number,
    Kind.CHOICE: _choice,
    Kind.SECRET: _secret,
    Kind.BASIC_AUTH: _basic_auth,
    Kind.NETWORKS: _networks,
    Kind.TIMEZONE: _timezone,
    Kind.DURATION: _duration,
    Kind.DIRECTORY: _directory,
    Kind.API_URL: _api_url,
    Kind.ACCOUNT_GROUP: _account_group,
}
