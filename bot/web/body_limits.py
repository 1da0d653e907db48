"""A body limit on every route, enforced before the app reads a byte of the body.

Why a WSGI middleware in front of Flask rather than ``max_content_length`` in views:
Bolt and Authlib read the body themselves, before any view code could set a limit (an
unsigned 100 MB POST to ``/slack/events`` was read whole), and Werkzeug's limit on a
chunked body stops reading at the limit and hands over what it has, so a chunked
webhook whose first MiB was a valid event was cut there and stored.

Here a declared ``Content-Length`` over the route's limit is answered 413 at once; a
chunked body is read up to one byte past the limit, answered 413 if it gets there, and
otherwise handed on as an ordinary body of known length. The serving process applies the
same limits while it buffers requests (``bot.web.buffering``), before a thread is involved.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# Slack's interaction payloads carry the clicked message (at most 50 blocks of 3000
# characters, URL-encoded JSON): well under this. OAuth's forms are a few fields.
SLACK_MAX_BODY_BYTES = 1024 * 1024
OTHER_MAX_BODY_BYTES = 16 * 1024


def body_limit(path: str, webhook_max_body_bytes: int) -> int:
    """The largest body a request to ``path`` may carry."""
    if path == "/webhooks/thousandeyes" or path.startswith("/webhooks/thousandeyes/"):
        return webhook_max_body_bytes
    if path.startswith("/slack/"):
        return SLACK_MAX_BODY_BYTES
    return OTHER_MAX_BODY_BYTES


def too_large(path: str, limit: int) -> bytes:
    """The 413 body, the same from the middleware and from the serving process."""
    setting = " (WEBHOOK_MAX_BODY_BYTES)" if path.startswith("/webhooks/") else ""
    return json.dumps({
        "error": "request_entity_too_large",
        "message": f"the body is larger than {limit} bytes, the limit for this route{setting}",
    }).encode("utf-8")


def declared_length(value: str | None) -> int | None:
    """``Content-Length`` as a number; -1 when it is not one (the caller answers 400)."""
    if value is None or value == "":
        return None
    return int(value) if value.isascii() and value.isdigit() else -1


class BodyLimits:
    """WSGI middleware: refuses bodies over ``limit_for(path)`` with a JSON 413."""

    def __init__(self, app: WSGIApp, limit_for: Callable[[str], int]) -> None:
        self._app = app
        self._limit_for = limit_for

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        limit = self._limit_for(path)
        length = declared_length(environ.get("CONTENT_LENGTH"))
        if length == -1:
            return _answer(start_response, "400 Bad Request", json.dumps({
                "error": "bad_request", "message": "Content-Length is not a number"}).encode())
        if length is not None:
            if length > limit:
                return _answer(start_response, "413 Request Entity Too Large",
                               too_large(path, limit))
            return self._app(environ, start_response)
        if _chunked(environ):
            body = _read_at_most(environ["wsgi.input"], limit + 1)
            if len(body) > limit:
                return _answer(start_response, "413 Request Entity Too Large",
                               too_large(path, limit))
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self._app(environ, start_response)


def _chunked(environ: dict[str, Any]) -> bool:
    # A server that de-chunks says so with wsgi.input_terminated; with neither that
    # nor a length there is no body to read (and the app reads none).
    return bool(environ.get("wsgi.input_terminated")) or (
        "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower())


def _read_at_most(stream: Any, size: int) -> bytes:
    # One read of a de-chunking stream may return a single chunk: read until EOF or size.
    body = bytearray()
    while len(body) < size:
        piece = stream.read(min(64 * 1024, size - len(body)))
        if not piece:
            break
        body += piece
    return bytes(body)


def _answer(start_response: Callable[..., Any], status: str, body: bytes) -> list[bytes]:
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body))), ("Connection", "close")])
    return [body]
