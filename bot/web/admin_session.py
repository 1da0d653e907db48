"""The administrator's signed-in session: a signed cookie, valid for ``MAX_AGE``.

Why a cookie signed with a key from the database (``service_secrets``, as the consent
form's CSRF key) rather than Flask's session: every process shares the key without a
new setting, and nothing about the session lives in memory, so any web process honours
it. The cookie carries an HMAC of ``OAUTH_ADMIN_PASSWORD`` under that key: changing the
password signs every session out, and the cookie says nothing a holder could guess the
password from (the key is not theirs).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from datetime import datetime

from itsdangerous import BadSignature, URLSafeTimedSerializer

from bot.db.database import Database
from bot.web.oauth_server.csrf import shared_secret

COOKIE = "te_admin"
MAX_AGE = 8 * 3600  # seconds a sign-in lasts
_SECRET_NAME = "admin-session"


class AdminSessions:
    """Issues and checks session cookies; the key is read once, when first needed."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._key: str | None = None
        self._lock = threading.Lock()

    def issue(self, password: str, now: datetime) -> str:
        key = self._shared_key(now)
        return _serializer(key).dumps({"p": _password_mark(key, password)})

    def valid(self, cookie: str | None, password: str, now: datetime) -> bool:
        if not cookie:
            return False
        key = self._shared_key(now)
        try:
            signed = _serializer(key).loads(cookie, max_age=MAX_AGE)
        except BadSignature:  # also SignatureExpired
            return False
        return isinstance(signed, dict) and hmac.compare_digest(
            str(signed.get("p", "")), _password_mark(key, password))

    def _shared_key(self, now: datetime) -> str:
        with self._lock:
            if self._key is None:
                self._key = shared_secret(self._database, _SECRET_NAME, now)
            return self._key


def _serializer(key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key, salt="admin-session")


def _password_mark(key: str, password: str) -> str:
    return hmac.new(key.encode("utf-8"), password.encode("utf-8"), hashlib.sha256).hexdigest()
