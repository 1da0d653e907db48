"""Socket Mode: the same Bolt listeners over a websocket, so development needs no
public URL. Started per serving process (by ``bot.process.background``) when ``SLACK_APP_TOKEN`` and ``SLACK_BOT_TOKEN``
are both set (``bot.config.setup_warnings`` says so when only the app token is).

The first connection is made from a background thread that keeps trying: a Slack outage
at boot must not stop the process from accepting webhooks. After that slack_sdk's
client reconnects by itself (Slack asks for it with a ``disconnect`` envelope every few
hours). What a person reads in the log is ours: one line when the socket is first ready,
one short line per reconnect; slack_sdk's own chatter about sessions is kept to warnings.
"""

from __future__ import annotations

import logging
import threading
import urllib.error
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)
# slack_sdk logs each session's start, stop and reconnection at INFO: several lines per
# reconnect. It gets a logger of its own, kept to warnings and errors.
sdk_log = logging.getLogger("slack_sdk.socket_mode")

_RETRY_SECONDS = (1, 2, 5, 10, 30, 60)


class SocketModeRunner:
    @classmethod
    def for_bolt(cls, bolt: App, app_token: str) -> SocketModeRunner:
        """A runner of ``bolt``'s listeners over the websocket; ``start`` connects it."""
        if not log.isEnabledFor(logging.DEBUG):  # LOG_LEVEL=DEBUG shows slack_sdk's too
            sdk_log.setLevel(logging.WARNING)
        return cls(SocketModeHandler(bolt, app_token=app_token, logger=sdk_log))

    def __init__(self, handler: SocketModeHandler) -> None:
        self.handler = handler
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._connect, name="socket-mode", daemon=True)
        self.ever_connected = False
        self.hellos = 0  # Slack says hello on every new connection, the first one included
        handler.client.message_listeners.append(self._on_message)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.handler.close()

    @property
    def state(self) -> str:
        """What ``/healthz`` and ``/metrics`` report: ``connecting`` until the first
        connection, then ``connected`` or ``disconnected`` (slack_sdk is reconnecting)."""
        if self.handler.client.is_connected():
            return "connected"
        return "disconnected" if self.ever_connected else "connecting"

    def _on_message(self, _client: Any, message: dict[str, Any], _raw: str | None) -> None:
        if message.get("type") != "hello":
            return
        self.hellos += 1
        if self.hellos == 1:
            log.info("Socket Mode connected: buttons and commands arrive over the websocket")
        else:
            log.info("Socket Mode reconnected (connection %d)", self.hellos)

    def _connect(self) -> None:
        attempt = 0
        while not self.stopping.is_set():
            try:
                self.handler.connect()
                self.ever_connected = True
                return
            except (SlackApiError, urllib.error.URLError, OSError) as error:
                delay = _RETRY_SECONDS[min(attempt, len(_RETRY_SECONDS) - 1)]
                code = error.response.get("error") if isinstance(error, SlackApiError) else error
                log.warning("Socket Mode connection failed (%s); retrying in %ss", code, delay)
                attempt += 1
                self.stopping.wait(delay)
