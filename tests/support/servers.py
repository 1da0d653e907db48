"""Serve a WSGI app over real HTTP on loopback for the length of a test."""

from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import make_server


class LiveServer:
    """A threaded server on a free loopback port. :meth:`close` stops listening (callers
    then meet a refused connection, as when a service is down) and :meth:`listen_again`
    serves again on the same port."""

    def __init__(self, app: Any, port: int = 0) -> None:
        self._app = app
        self._listen(port)

    def _listen(self, port: int) -> None:
        self._server = make_server("127.0.0.1", port, self._app, threaded=True)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.listening = False

    def __enter__(self) -> LiveServer:
        self._thread.start()
        self.listening = True
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.listening:
            self._server.shutdown()
            self._thread.join(5)
            self.listening = False
        self._server.server_close()

    def listen_again(self) -> None:
        self._listen(self.port)
        self.__enter__()
