"""Authentication of ThousandEyes webhook requests: Bearer token and HTTP Basic.

Secrets are compared with :func:`hmac.compare_digest` so the time taken says nothing about
how much of a guess was right.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class WebhookCredentials:
    bearer_token: str | None = None
    basic_auth: tuple[str, str] | None = None
    # Checks a Bearer token issued by our OAuth server (None: OAuth is off).
    oauth_token_valid: Callable[[str], bool] | None = field(default=None, compare=False)

    @property
    def open(self) -> bool:
        return not (self.bearer_token or self.basic_auth or self.oauth_token_valid)

    @property
    def challenge(self) -> str:
        """The ``WWW-Authenticate`` value naming every scheme this endpoint accepts."""
        schemes = []
        if self.bearer_token or self.oauth_token_valid:
            schemes.append('Bearer realm="thousandeyes-webhook"')
        if self.basic_auth:
            schemes.append('Basic realm="thousandeyes-webhook", charset="UTF-8"')
        return ", ".join(schemes)


def check_authorization(header: str | None, credentials: WebhookCredentials) -> str | None:
    """Return None when the request may pass, else the reason to give in the 401."""
    if credentials.open:
        return None
    if not header:
        return "missing Authorization header"
    scheme, value = split_authorization(header)
    if scheme == "bearer" and (credentials.bearer_token or credentials.oauth_token_valid):
        if credentials.bearer_token and _equal(value, credentials.bearer_token):
            return None
        if value and credentials.oauth_token_valid and credentials.oauth_token_valid(value):
            return None
        return "invalid, expired or revoked bearer token"
    if scheme == "basic" and credentials.basic_auth:
        decoded = decode_basic(value)
        if decoded is None:
            return "malformed Basic credentials"
        user, password = decoded
        expected_user, expected_password = credentials.basic_auth
        # Evaluate both comparisons: no early exit that would time the user name.
        user_ok = _equal(user, expected_user)
        password_ok = _equal(password, expected_password)
        if user_ok and password_ok:
            return None
        return "invalid username or password"
    # The "scheme" may be a bare token sent without one: never echo it.
    return "unsupported authorization scheme; use Bearer or Basic"


def split_authorization(header: str | None) -> tuple[str, str]:
    """``("bearer", "abc")`` from ``"Bearer abc"``; the scheme lower-cased."""
    scheme, _, value = (header or "").strip().partition(" ")
    return scheme.lower(), value.strip()


def _equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def decode_basic(value: str) -> tuple[str, str] | None:
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except ValueError:  # binascii.Error, UnicodeDecodeError, non-ASCII input
        return None
    user, sep, password = decoded.partition(":")
    if not sep:
        return None
    return user, password
