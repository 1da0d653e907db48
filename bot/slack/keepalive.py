"""Slack Web API calls over kept-alive connections: one per thread and host.

slack-sdk's ``WebClient`` sends every call through ``urllib.request.urlopen``, which opens
a new TCP (and TLS) connection and closes it after the answer: for the delivery threads,
name resolution and connection set-up were about a sixth of their CPU (bench/README.md).
Slack speaks HTTP/1.1 and keeps connections open, so each thread keeps one
``http.client`` connection per host here (a connection carries one call at a time, and
delivery runs on several threads) and lends it to each of its calls.

Checked against slack-sdk 3.47.0 (requirements.txt pins it): :class:`KeepAliveWebClient`
replaces only ``BaseClient._perform_urllib_http_request_internal``, which sends one urllib
``Request`` and returns ``{"status", "headers", "body"}``, or raises urllib's ``HTTPError``
for a status outside 2xx. The SDK's arguments, retry handlers, error parsing and
``Retry-After`` reading around it are its own, unchanged (tests/slack/test_keepalive.py
pins them). With a proxy set, calls go through urllib as before.

When a call may be sent again, since ``chat.postMessage`` is not idempotent:

- a kept connection that Slack closed while idle is noticed before it is used (it has
  something to read: the end of the stream) and replaced: nothing was sent on it;
- a failure to connect or to send (Slack closed the connection as we wrote) is retried
  once by the SDK, as with urllib: Slack does not act on a request it did not get whole;
- a failure after the whole request was sent (a reset, the end of the stream, a timeout)
  may come after Slack did the work: it is raised and never sent again, here or by the
  SDK's retry handler; delivery reads the channel back before it posts again.

Errors keep urllib's shapes, which the SDK and the gateway read: a failure to connect or
to send is a ``URLError`` whose ``reason`` is the socket error; one after sending is the
socket error itself.
"""

from __future__ import annotations

import http.client
import io
import os
import select
import socket
import ssl
import threading
import weakref
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import Request

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler

# (scheme, host[:port], TLS context): what one connection can serve.
_Key = tuple[str, str, ssl.SSLContext | None]


class KeptConnections:
    """Connections kept open between calls, one per thread and host; shared by the clients
    of every token (a connection is not tied to a token)."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        # Every thread's connections, so close() reaches them; a finished thread's go with it.
        self._every: weakref.WeakSet[http.client.HTTPConnection] = weakref.WeakSet()

    def exchange(self, request: Request, timeout: float, tls: ssl.SSLContext | None,
                 ) -> tuple[http.client.HTTPResponse, bytes]:
        """Send ``request`` on this thread's connection to its host and read the whole
        answer, so the connection is ready for the next call."""
        key: _Key = (request.type, request.host, tls)
        connection = self._connection(key, timeout)
        try:
            connection.request(request.get_method(), request.selector, request.data,
                               dict(request.header_items()))
        except OSError as error:
            connection.close()
            # As urlopen: Slack did not get the request whole (the SDK may send it again).
            raise URLError(error) from error
        try:
            response = connection.getresponse()
            return response, response.read()
        except BaseException:
            connection.close()  # never read a late answer as the next call's
            raise

    def close(self) -> None:
        """Close every thread's connections; a thread that calls again opens a new one."""
        with self._lock:
            every = list(self._every)
        for connection in every:
            connection.close()

    def _connection(self, key: _Key, timeout: float) -> http.client.HTTPConnection:
        """This thread's connection for ``key``: open if kept from an earlier call and still
        open, else it connects when used."""
        if getattr(self._local, "pid", None) != os.getpid():
            # New thread, or a process forked from ours: its parent's sockets are not ours.
            self._local.pid, self._local.connections = os.getpid(), {}
        connections: dict[_Key, http.client.HTTPConnection] = self._local.connections
        connection = connections.get(key)
        if connection is None:
            scheme, host, tls = key
            connection = (http.client.HTTPSConnection(host, timeout=timeout, context=tls)
                          if scheme == "https" else http.client.HTTPConnection(host, timeout=timeout))
            connections[key] = connection
            with self._lock:
                self._every.add(connection)
        connection.timeout = timeout  # for when it connects; the open socket is set below
        if connection.sock is not None:
            if _closed_by_server(connection.sock):
                connection.close()
            else:
                connection.sock.settimeout(timeout)
        return connection


def _closed_by_server(sock: socket.socket) -> bool:
    """Between answers a kept connection has nothing to read: anything readable is Slack
    closing it (the end of the stream, a reset, TLS's close_notify)."""
    poll = select.poll()
    poll.register(sock, select.POLLIN)
    return bool(poll.poll(0))


class KeepAliveWebClient(WebClient):
    """slack-sdk's ``WebClient``, its calls sent over ``connections``.

    The SDK's default retry handler sends a call again after a reset or the end of the
    stream, both of which can come after Slack did the work; here it retries only what
    never reached Slack whole (a ``URLError``: refused, not sent)."""

    def __init__(self, connections: KeptConnections, **kwargs: Any) -> None:
        kwargs.setdefault("retry_handlers", [ConnectionErrorRetryHandler(error_types=[URLError])])
        super().__init__(**kwargs)
        self._connections = connections

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        if self.proxy is not None or req.type not in ("http", "https"):
            return super()._perform_urllib_http_request_internal(url, req)
        response, body = self._connections.exchange(req, self.timeout, self.ssl)
        if not 200 <= response.status < 300:
            # As urlopen: the SDK reads status, headers and body of an HTTPError.
            raise HTTPError(req.full_url, response.status, response.reason, response.headers,
                            io.BytesIO(body))
        if response.headers.get_content_type() == "application/gzip":
            return {"status": response.status, "headers": response.headers, "body": body}
        charset = response.headers.get_content_charset() or "utf-8"
        return {"status": response.status, "headers": response.headers,
                "body": body.decode(charset)}
