"""Is ``SLACK_BOT_TOKEN`` still accepted? ``auth.test`` at start, and again when someone
looks (``/healthz``, the front page), at most once a minute.

A token revoked (the app reinstalled, uninstalled, its tokens rotated) or a workspace
deactivated otherwise looks healthy: webhooks are still stored, so ``/healthz`` rightly
stays 200, and only the dead-lettered alerts say it, in the log. This says it where a
newcomer looks: one log line when Slack starts refusing the token, a warning on the front
page, and the ``slack`` value of ``/healthz``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from bot.config import Config
from bot.slack.errors import PermanentError, SlackDeliveryError
from bot.slack.gateway import WebApiGateway

log = logging.getLogger(__name__)

# What Slack answers for a token it no longer accepts (auth.test documents these).
REFUSED_TOKEN_CODES = frozenset({"invalid_auth", "token_revoked", "account_inactive",
                                 "not_authed", "token_expired"})
CHECK_INTERVAL = 60.0  # seconds: auth.test is Tier 4, but once a minute says it soon enough

UNCHECKED = "configured"  # not asked yet, or Slack could not be reached to ask
ACCEPTED = "ok"


class BotTokenCheck:
    """The bot token's last known state: ``ok``, ``configured`` (not known) or the code
    Slack refused it with. ``refresh`` asks Slack unless it was asked less than
    ``interval`` seconds ago."""

    def __init__(self, auth_test: Callable[[], object], interval: float = CHECK_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._auth_test = auth_test
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._asked_at: float | None = None
        self.state = UNCHECKED

    @classmethod
    def for_config(cls, config: Config) -> BotTokenCheck | None:
        """The check of ``SLACK_BOT_TOKEN``; None without one (log-only, or one token per
        installed workspace)."""
        if not config.slack_bot_token:
            return None
        gateway = WebApiGateway(config.slack_bot_token, config.slack_api_url,
                                timeout=min(config.slack_timeout, 5.0))
        return cls(gateway.auth_test)

    @property
    def refused(self) -> bool:
        return self.state in REFUSED_TOKEN_CODES

    @property
    def problem(self) -> str | None:
        """What to do about a refused token, naming the variable, never its value."""
        if not self.refused:
            return None
        return (f"Slack refuses SLACK_BOT_TOKEN ({self.state}): alerts are stored but cannot"
                " be posted; set SLACK_BOT_TOKEN to the app's current Bot User OAuth Token"
                " (OAuth & Permissions, reinstall the app if it was removed) and restart")

    def refresh(self) -> str:
        """The state, asking Slack first when the last answer is a minute old. One caller
        asks; the others meanwhile get the last known state at once (a health probe never
        waits on Slack)."""
        with self._lock:
            now = self._clock()
            if self._asked_at is not None and now - self._asked_at < self._interval:
                return self.state
            self._asked_at = now
        try:
            self._auth_test()
        except PermanentError as error:
            state = error.code if error.code in REFUSED_TOKEN_CODES else self.state
        except SlackDeliveryError as error:  # Slack unreachable or busy: not known
            log.info("cannot check SLACK_BOT_TOKEN with auth.test now (%s)", error.code)
            state = self.state
        else:
            state = ACCEPTED
        with self._lock:
            was_refused, self.state = self.refused, state
            if self.refused and not was_refused:
                log.error("%s", self.problem)
            return self.state
