"""CSRF protection of the consent form: a signed double-submit token.

The page sets a random nonce in a ``SameSite=Strict`` cookie and puts, in the form, that
nonce and the request's OAuth parameters signed (itsdangerous, which Flask already
brings) with a key every process shares. A POST is honoured only when the cookie, the
signature and the parameters agree and the form is younger than ``MAX_AGE``: another
site can neither read the cookie nor sign a form of its own.

The key is random and kept in the database (``service_secrets``), not derived from
``OAUTH_ADMIN_PASSWORD``: anyone may load the page, and a signature keyed by the password
would let them guess the password offline, past the lockout.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
from collections.abc import Sequence
from datetime import datetime

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.db.database import Database
from bot.db.models import ServiceSecretRow

COOKIE = "te_consent"
MAX_AGE = 600  # seconds a consent form stays valid
_SECRET_NAME = "oauth-consent-csrf"
_NONCE = re.compile(r"[A-Za-z0-9_-]{32}", re.ASCII)


def shared_secret(database: Database, name: str, now: datetime) -> str:
    """The random secret ``name``, made by whichever process asks first."""
    insert = sqlite_insert if database.is_sqlite else postgresql_insert
    with database.session() as session:
        session.execute(insert(ServiceSecretRow).values(
            name=name, value=secrets.token_hex(32), created_at=now,
        ).on_conflict_do_nothing())
        return session.scalars(
            select(ServiceSecretRow.value).where(ServiceSecretRow.name == name)).one()


class ConsentForms:
    """Issues and checks the consent form's tokens; the key is read once, when first needed."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._serializer: URLSafeTimedSerializer | None = None
        self._lock = threading.Lock()

    def issue(self, params: Sequence[tuple[str, str]], now: datetime,
              cookie_nonce: str | None = None) -> tuple[str, str]:
        """(cookie nonce, form token) for a page showing these OAuth parameters.

        The browser's nonce is kept when it has one, so a page opened earlier in another
        tab still submits.
        """
        nonce = cookie_nonce if cookie_nonce and _NONCE.fullmatch(cookie_nonce) else (
            secrets.token_urlsafe(24))
        token = self._signer(now).dumps({"n": nonce, "p": _digest(params)})
        return nonce, token

    def valid(self, cookie_nonce: str | None, token: str | None,
              params: Sequence[tuple[str, str]], now: datetime) -> bool:
        if not cookie_nonce or not token:
            return False
        try:
            signed = self._signer(now).loads(token, max_age=MAX_AGE)
        except BadSignature:  # also SignatureExpired
            return False
        if not isinstance(signed, dict):
            return False
        return (hmac.compare_digest(str(signed.get("n", "")), cookie_nonce)
                and hmac.compare_digest(str(signed.get("p", "")), _digest(params)))

    def _signer(self, now: datetime) -> URLSafeTimedSerializer:
        with self._lock:
            if self._serializer is None:
                key = shared_secret(self._database, _SECRET_NAME, now)
                self._serializer = URLSafeTimedSerializer(key, salt="oauth-consent")
            return self._serializer


def _digest(params: Sequence[tuple[str, str]]) -> str:
    return hashlib.sha256(json.dumps(sorted(params)).encode("utf-8")).hexdigest()
