"""Slack's Socket Mode endpoint on loopback: a real websocket server (``websockets``)
speaking Slack's envelopes, for the URL the fake ``apps.connections.open`` hands out.

As Slack documents it (api.slack.com/apis/socket-mode): every new connection first gets
a ``hello``; events, interactions and commands arrive as envelopes with an
``envelope_id`` that the app must acknowledge by sending ``{"envelope_id": …}`` back
within three seconds; a ``disconnect`` envelope asks the app to open a new connection
(through ``apps.connections.open`` again) before this one is closed.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve


class FakeSocketMode:
    def __init__(self, app_id: str = "A0APP") -> None:
        self.app_id = app_id
        self.connections: list[ServerConnection] = []  # every one accepted, oldest first
        self.received: list[dict[str, Any]] = []  # what the app sent, in order
        self._lock = threading.Lock()
        # slack_sdk's built-in client offers no compression extension; neither do we.
        self._server = serve(self._session, "127.0.0.1", 0, compression=None)
        port = self._server.socket.getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/link/?ticket={uuid.uuid4()}&app_id={app_id}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FakeSocketMode:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(5)

    def _session(self, connection: ServerConnection) -> None:
        with self._lock:
            self.connections.append(connection)
            number = len(self.connections)
        connection.send(json.dumps({
            "type": "hello", "num_connections": number,
            "debug_info": {"host": "applink-fake", "build_number": 1,
                           "approximate_connection_time": 18060},
            "connection_info": {"app_id": self.app_id},
        }))
        try:
            for raw in connection:
                with self._lock:
                    self.received.append(json.loads(raw))
        except ConnectionClosed:
            pass

    def _current(self) -> ServerConnection:
        with self._lock:
            return self.connections[-1]

    def send_interactive(self, payload: dict[str, Any]) -> str:
        """Send a button click (a ``block_actions`` payload); returns its envelope id."""
        envelope_id = str(uuid.uuid4())
        self._current().send(json.dumps({
            "envelope_id": envelope_id, "payload": payload, "type": "interactive",
            "accepts_response_payload": False,
        }))
        return envelope_id

    def send_disconnect(self, reason: str = "refresh_requested") -> None:
        self._current().send(json.dumps({
            "type": "disconnect", "reason": reason,
            "debug_info": {"host": "applink-fake"},
        }))

    def acknowledged(self, envelope_id: str) -> bool:
        with self._lock:
            return any(message.get("envelope_id") == envelope_id for message in self.received)
