"""A WSGI server on loopback that keeps HTTP/1.1 connections open between requests, as
Slack's Web API does, and counts the connections it accepts.

werkzeug's development server answers every request with ``Connection: close``, and after
each answer reads and throws away whatever the client sent next (its comment: http.server
cannot tell where a request ends), so a client's kept-alive connection could neither be
used nor tested against it. This handler keeps werkzeug's environ and request log, reads
each request's body to its end (so the next request starts where it ends), and answers
with a ``Content-Length`` and no ``Connection: close``.

It can close connections the ways servers do:

- :meth:`Connections.close_idle`: every connection waiting for its next request is closed,
  as a server's idle timeout does (the client learns it only when it next looks);
- an app that raises :class:`HangUp` has its connection dropped without an answer: the
  request was read, perhaps acted on, and the answer is lost.
"""

from __future__ import annotations

import contextlib
import io
import socket
import ssl
import threading
import traceback
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class HangUp(Exception):
    """Raised by the app: drop this connection without answering."""


class Connections:
    """The connections a server accepted: how many in all, which are open and idle."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.accepted = 0
        self._busy: dict[socket.socket, bool] = {}  # open connection -> handling a request

    @property
    def open(self) -> int:
        with self._lock:
            return len(self._busy)

    def close_idle(self) -> int:
        """Close every connection waiting for its next request; how many there were."""
        with self._lock:
            idle = [sock for sock, busy in self._busy.items() if not busy]
        for sock in idle:
            _hang_up(sock)
        return len(idle)

    def close_all(self) -> None:
        """Drop every connection, in the middle of a request or not (a server going away)."""
        with self._lock:
            every = list(self._busy)
        for sock in every:
            _hang_up(sock)

    def _opened(self, sock: socket.socket) -> None:
        with self._lock:
            self.accepted += 1
            self._busy[sock] = False

    def _handling(self, sock: socket.socket, busy: bool) -> None:
        with self._lock:
            if sock in self._busy:
                self._busy[sock] = busy

    def _closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._busy.pop(sock, None)


def kept_alive_server(host: str, port: int, app: Any, connections: Connections,
                      tls: ssl.SSLContext | None = None) -> BaseWSGIServer:
    """A threaded server for ``app`` (not yet serving) whose connections stay open and are
    counted in ``connections``; over TLS with ``tls``."""
    server = make_server(host, port, app, threaded=True, request_handler=_KeptAliveHandler,
                         ssl_context=tls)
    server.connections = connections  # type: ignore[attr-defined]
    return server


class _KeptAliveHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"
    # An answer's head and body are written apart: with Nagle's algorithm the body would
    # wait for the client's delayed ACK of the head (40 ms on Linux) on every call but a
    # connection's first, a stall Slack's servers do not have.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        self.server.connections._opened(self.connection)  # type: ignore[attr-defined]

    def finish(self) -> None:
        self.server.connections._closed(self.connection)  # type: ignore[attr-defined]
        super().finish()

    def run_wsgi(self) -> None:  # every do_GET, do_POST...: werkzeug routes them here
        connections: Connections = self.server.connections  # type: ignore[attr-defined]
        connections._handling(self.connection, True)
        try:
            self._answer()
        finally:
            connections._handling(self.connection, False)

    def _answer(self) -> None:
        environ = self.make_environ()
        if environ.get("wsgi.input_terminated"):  # chunked: werkzeug reads it to its end
            body = environ["wsgi.input"].read()
        else:
            body = self.rfile.read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        started: list[Any] = []
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [status, headers]
            return chunks.append

        try:
            result = self.server.app(environ, start_response)
            try:
                chunks.extend(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        except HangUp:
            self.close_connection = True
            _hang_up(self.connection)
            return
        except Exception:  # a bug in the fake: say so, answer 500 and close
            self.log_error("the app failed:\n%s", traceback.format_exc())
            started[:] = ["500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")]]
            chunks[:] = [b"the fake failed"]
            self.close_connection = True
        status, headers = started
        code, _, reason = status.partition(" ")
        payload = b"".join(chunks)
        self.send_response(int(code), reason)
        for key, value in headers:
            if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        # Idle from the moment the answer goes out: a client that has read it may find the
        # connection closed by close_idle, never one closed before its answer was sent.
        self.server.connections._handling(self.connection, False)  # type: ignore[attr-defined]
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


def _hang_up(sock: socket.socket) -> None:
    """Both directions closed: the peer reads the end of the stream; the thread serving
    the connection sees it end and stops."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
