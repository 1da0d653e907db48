"""The client's address behind ``TRUSTED_PROXY_HOPS`` proxies, and one warning when a
request could not have come through them all.

Each trusted proxy appends the address it received the request from to
``X-Forwarded-For``; the entry ``TRUSTED_PROXY_HOPS`` from the right is the one the
outermost trusted proxy wrote, and anything further left is whatever the client chose
to send. A request with fewer entries than that has not passed every proxy, so none of
its entries can be trusted: it is judged by its socket address (werkzeug's ProxyFix
does both). The mismatch is logged once per process, because it usually means the
setting is wrong: with ``TRUSTED_PROXY_HOPS`` set and no proxy in front, a client could
write its own X-Forwarded-For and pass the source allowlist or dodge a lockout, and the
requests that carry none are the sign of it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.http import parse_list_header
from werkzeug.middleware.proxy_fix import ProxyFix

from bot.web.body_limits import WSGIApp

log = logging.getLogger(__name__)


class TrustedProxies:
    """WSGI middleware: ProxyFix for ``hops`` proxies, saying once when a request has
    fewer X-Forwarded-For entries than proxies."""

    def __init__(self, app: WSGIApp, hops: int) -> None:
        self._hops = hops
        self._fixed = ProxyFix(app, x_for=hops, x_proto=hops)
        self._said = False
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not self._said:
            entries = parse_list_header(environ.get("HTTP_X_FORWARDED_FOR", ""))
            if len(entries) < self._hops:
                self._say_mismatch(len(entries), environ.get("REMOTE_ADDR"))
        return self._fixed(environ, start_response)

    def _say_mismatch(self, entries: int, socket_address: Any) -> None:
        with self._lock:
            if self._said:
                return
            self._said = True
        log.warning(
            "TRUSTED_PROXY_HOPS=%d but a request came with %d X-Forwarded-For %s: it is"
            " judged by its own address %s. If fewer proxies are in front of the service,"
            " lower TRUSTED_PROXY_HOPS (0 without a proxy): a client could otherwise name"
            " any address it likes. (Said once.)", self._hops, entries,
            "entry" if entries == 1 else "entries", socket_address)
