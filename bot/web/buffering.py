"""The serving process reads each request whole before a thread runs the app.

Why: under gunicorn's threaded worker a thread read the body itself, so 24 connections
that sent their headers and stalled their body held every thread (8 by default) and a
valid webhook timed out. Here gunicorn's asyncio worker reads every connection without
a thread; this ASGI front then collects the body, within the route's limit
(``bot.web.body_limits``) and ``BODY_TIMEOUT``, and only a complete request is handed to
the Flask app, on one of ``WEB_THREADS`` threads.

A client that stalls costs a socket and a coroutine, not a thread: its body is refused
with 408 after ``BODY_TIMEOUT``; a body over the limit is refused with 413 as soon as
its declared length, or the bytes received, say so.

The WSGI call runs whole on its thread, response included, and comes back to the event
loop once: this app's answers are small JSON and HTML pages, and one hop per request
costs a tenth of a streaming bridge (a2wsgi: 0.41 ms of CPU per request, this 0.05 ms).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from bot.web.body_limits import WSGIApp, declared_length, too_large

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# Seconds a client has to send its whole body once its headers are in. ThousandEyes'
# and Slack's bodies are a few KiB; even a full 1 MiB webhook needs only 100 KiB/s.
BODY_TIMEOUT = 10.0


class _TooLarge(Exception):
    pass


class _Gone(Exception):
    pass


class BufferedRequests:
    """ASGI app: buffer and bound each request, then run the WSGI app in a thread pool."""

    def __init__(self, wsgi_app: WSGIApp, threads: int, limit_for: Callable[[str], int],
                 body_timeout: float = BODY_TIMEOUT) -> None:
        self._wsgi = wsgi_app
        # Threads start when first needed, so a master that preloads the app has none.
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="web")
        self._limit_for = limit_for
        self._body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1000})
            return
        if scope["type"] != "http":
            return  # lifespan is off (bot.process.server)
        path = scope.get("path", "")
        limit = self._limit_for(path)
        length = declared_length(_header(scope, b"content-length"))
        if length is not None and length > limit:
            await _answer(send, 413, too_large(path, limit))
            return
        try:
            body = await asyncio.wait_for(_read_body(receive, limit), self._body_timeout)
        except _TooLarge:
            await _answer(send, 413, too_large(path, limit))
            return
        except TimeoutError:
            client = (scope.get("client") or ("?",))[0]
            log.warning("request from %s to %s: body not complete after %.0f s; answering 408",
                        client, path[:80], self._body_timeout)
            await _answer(send, 408, json.dumps({
                "error": "request_timeout",
                "message": f"the body did not arrive within {self._body_timeout:.0f} seconds",
            }).encode())
            return
        except _Gone:
            return
        loop = asyncio.get_running_loop()
        status, headers, content = await loop.run_in_executor(
            self._threads, _call_wsgi, self._wsgi, _environ(scope, body))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})


def _environ(scope: Scope, body: bytes) -> dict[str, Any]:
    """The WSGI environ (PEP 3333) of a complete request: native strings are latin-1, the
    body is in memory and its length known, however it was framed on the wire."""
    server = scope.get("server") or ("localhost", 80)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode("utf-8").decode("latin-1"),
        "PATH_INFO": scope["path"].encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1] or 0),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = str(client[0]), str(client[1])
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        if name in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
            continue
        key = name if name == "CONTENT_TYPE" else f"HTTP_{name}"
        value = raw_value.decode("latin-1")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    if body or scope["method"] not in ("GET", "HEAD"):
        environ["CONTENT_LENGTH"] = str(len(body))
    return environ


def _call_wsgi(app: WSGIApp, environ: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Run the app on this thread to the end of its response."""
    started: list[Any] = []
    written: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]],
                       exc_info: Any = None) -> Callable[[bytes], None]:
        if started and exc_info is None:
            raise RuntimeError("start_response called twice without exc_info")
        started[:] = [status, headers]  # nothing is sent before the app returns
        return written.append

    result = app(environ, start_response)
    try:
        for chunk in result:
            written.append(chunk)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    status, headers = started
    encoded = [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in headers]
    return int(status[:3]), encoded, b"".join(written)


async def _read_body(receive: Receive, limit: int) -> bytes:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Gone()
        body += message.get("body", b"")
        if len(body) > limit:
            raise _TooLarge()
        if not message.get("more_body"):
            return bytes(body)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return cast(bytes, value).decode("latin-1")  # ASGI: header names and values are bytes
    return None


async def _answer(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]})
    await send({"type": "http.response.body", "body": body})
