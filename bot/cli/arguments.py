"""Argument types of ``python -m bot``: a mistake is refused by argparse with one line
saying what was expected; and whether ``serve`` can listen where it was told."""

from __future__ import annotations

import argparse
import socket
from urllib.parse import urlsplit


def port_number(text: str) -> int:
    """``--port``: the same range ``PORT`` allows; 0 would silently mean the default."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a whole number from 1 to 65535, got {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be from 1 to 65535, got {port}")
    return port


def http_url(text: str) -> str:
    """``--url``: an http(s) URL with a host, as urllib needs it."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"must be an http(s) URL like http://127.0.0.1:3000/webhooks/thousandeyes,"
            f" got {text[:80]!r}")
    return text


def cannot_listen(host: str, port: int, source: str) -> str | None:
    """Why ``serve`` cannot listen on ``host:port`` (None: it can), in one line. A port in
    use or a host that is not this machine's is said here; gunicorn would retry five
    times and log each failure. ``source`` names where the port came from."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does
            probe.bind((host, port))
    except OSError as error:
        return (f"cannot listen on {host}:{port} ({error.strerror or error}); another service"
                f" may use that port: choose one with {source}, or a --host this machine has")
    return None
