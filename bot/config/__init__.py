"""Configuration: each setting declared once (:mod:`.settings`), read and validated from
the environment and ``.env`` (:mod:`.reader`) into the frozen :class:`Config`
(:mod:`.model`); half-configured Slack is said at start (:mod:`.setup_warnings`)."""

from bot.config.database_url import as_written, normalise_database_url, redact_database_url
from bot.config.model import Config, SlackMode
from bot.config.reader import ConfigError, parse_duration
from bot.config.settings import THOUSANDEYES_OAUTH_CALLBACKS, THOUSANDEYES_SOURCE_RANGE

__all__ = [
    "as_written",
    "THOUSANDEYES_OAUTH_CALLBACKS",
    "THOUSANDEYES_SOURCE_RANGE",
    "Config",
    "ConfigError",
    "SlackMode",
    "normalise_database_url",
    "parse_duration",
    "redact_database_url",
]
