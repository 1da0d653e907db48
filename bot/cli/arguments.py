"""Argument types of ``python -m bot``: a mistake is refused by argparse with one line
saying what was expected."""

from __future__ import annotations

import argparse
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
