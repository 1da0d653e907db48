"""Bolt reads some settings from ``os.environ`` whenever an argument is missing or empty:
the signing secret, the bot token, a whole OAuth install flow when ``SLACK_CLIENT_ID`` and
``SLACK_CLIENT_SECRET`` are set, scopes, redirect URIs. The service's settings come from
the injected :class:`~bot.config.Config` (the environment *and* ``.env``, or a test's own
values), so Bolt objects are built with those variables out of its sight: what the
Config says is what Bolt does.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Every variable slack_bolt reads while its App, OAuthSettings or OAuthFlow is built.
BOLT_VARIABLES = (
    "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_VERIFICATION_TOKEN",
    "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_SCOPES", "SLACK_USER_SCOPES",
    "SLACK_REDIRECT_URI", "SLACK_INSTALL_PATH", "SLACK_REDIRECT_URI_PATH", "SLACK_APP_TOKEN",
)
_lock = threading.Lock()


@contextmanager
def config_only() -> Iterator[None]:
    """Hide Bolt's variables while Bolt objects are built; they come back afterwards.

    Bolt reads them only while it is being built, never while it serves, and the app is
    built before any request thread exists; the lock keeps two builds (two apps in one
    test process) from restoring each other's view.
    """
    with _lock:
        hidden = {name: os.environ.pop(name) for name in BOLT_VARIABLES if name in os.environ}
        try:
            yield
        finally:
            os.environ.update(hidden)
