"""The serving process reads each request whole before a thread runs the app.

Why: under gunicorn's threaded worker a thread read the body itself, so 24 connections
that sent their headers and stalled their body held every thread (8 by default) and a
valid webhook timed out. Here gunicorn's asyncio worker reads every connection without
a thread; this ASGI front then collects the body, within the route's limit
(``bot.body_limits``) and ``BODY_TIMEOUT``, and only a complete request is handed to
the Flask app, on one of ``WEB_THREADS`` threads (a2wsgi's WSGI-in-a-thread-pool bridge).

A client that stalls costs a socket and a coroutine, not a thread: its body is refused
with 408 after ``BODY_TIMEOUT``; a body over the limit is refused with 413 as soon as
its declared length, or the bytes received, say so.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Awaitable, Callable

from a2wsgi import WSGIMiddleware

from bot.body_limits import WSGIApp, declared_length, too_large

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
        self._wsgi = WSGIMiddleware(wsgi_app, workers=threads)
        self._limit_for = limit_for
        self._body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._wsgi(scope, receive, send)  # lifespan; a websocket is closed
            return
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
        except asyncio.TimeoutError:
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
        await self._wsgi(_with_length(scope, len(body)), _replay(body, receive), send)


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


def _replay(body: bytes, receive: Receive) -> Receive:
    """The buffered body as one message; afterwards, whatever the connection says next."""
    delivered = False

    async def replay() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _with_length(scope: Scope, length: int) -> Scope:
    # The app sees an ordinary body of known length, however it was framed on the wire.
    headers = [(k, v) for k, v in scope.get("headers", ())
               if k.lower() not in (b"content-length", b"transfer-encoding")]
    if length or scope.get("method") not in ("GET", "HEAD"):
        headers.append((b"content-length", str(length).encode()))
    return dict(scope, headers=headers)


async def _answer(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]})
    await send({"type": "http.response.body", "body": body})
