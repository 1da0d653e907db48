"""Slows the guessing of a secret, per client address, in the database.

Two secrets are guarded, each with its own count (:class:`Guarded`): the administrator
password (the OAuth consent page and the admin sign-in share it) and the webhook's
credentials (``WEBHOOK_TOKEN``, ``WEBHOOK_BASIC_AUTH``, a route's token).

Why per address and with a growing delay: a global lock let anyone lock the
administrator out for 15 minutes, and a counter in memory was one per gunicorn worker.
Here each address (an IPv6 address by its /64, which one host can rotate within) gets
``FREE_ATTEMPTS`` wrong guesses, then waits 1 s, 2 s, 4 s … up to ``MAX_DELAY`` before
its next try; the administrator, typing from another address, is never slowed. Every
process reads and writes the same row, under the row's lock.
"""

from __future__ import annotations

import enum
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import IPv6Address, IPv6Network, ip_address

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.db.database import Database
from bot.db.models import AuthFailureRow

FREE_ATTEMPTS = 3
MAX_DELAY = timedelta(minutes=15)
# Failures older than this are forgotten: a typo last week costs nothing today.
FORGET_AFTER = timedelta(hours=24)


class Guarded(str, enum.Enum):
    """Which secret the wrong guesses were for; each is counted apart."""

    ADMIN_PASSWORD = "admin-password"  # OAUTH_ADMIN_PASSWORD: consent page, admin sign-in
    WEBHOOK = "webhook"  # WEBHOOK_TOKEN, WEBHOOK_BASIC_AUTH, route tokens


@dataclass(frozen=True)
class Lockout:
    """Whether an address must wait before its next guess, and for how long."""

    wait: timedelta

    @property
    def locked(self) -> bool:
        return self.wait > timedelta(0)


def client_key(address: str | None) -> str:
    """The unit that is slowed down: an IPv4 address, or an IPv6 address's /64."""
    try:
        parsed = ip_address(address or "")
    except ValueError:
        return "unknown"
    if isinstance(parsed, IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(IPv6Network((parsed, 64), strict=False))
    return str(parsed)


def delay_after(failures: int) -> timedelta:
    """No wait for the first few failures, then doubling from one second."""
    if failures < FREE_ATTEMPTS:
        return timedelta(0)
    return min(timedelta(seconds=2 ** min(failures - FREE_ATTEMPTS, 20)), MAX_DELAY)


def current_lockout(database: Database, guarded: Guarded, key: str, now: datetime) -> Lockout:
    with database.session() as session:
        locked_until = session.scalar(
            select(AuthFailureRow.locked_until).where(AuthFailureRow.scope == guarded.value,
                                                      AuthFailureRow.client_key == key))
    if locked_until is None or locked_until <= now:
        return Lockout(timedelta(0))
    return Lockout(locked_until - now)


def record_failure(database: Database, guarded: Guarded, key: str, now: datetime) -> Lockout:
    """Count a wrong guess; returns the wait it now costs this address."""
    with database.session() as session:
        # Make sure the row exists, then take its lock: two processes recording failures
        # of one address at once both count.
        insert = sqlite_insert if database.is_sqlite else postgresql_insert
        session.execute(insert(AuthFailureRow).values(
            scope=guarded.value, client_key=key, failures=0, last_failure_at=now,
            locked_until=now,
        ).on_conflict_do_nothing())
        query = select(AuthFailureRow).where(AuthFailureRow.scope == guarded.value,
                                             AuthFailureRow.client_key == key)
        if not database.is_sqlite:  # SQLite's transactions here are all BEGIN IMMEDIATE
            query = query.with_for_update()
        row = session.scalars(query).one()
        fresh = row.failures == 0 or now - row.last_failure_at > FORGET_AFTER
        row.failures = 1 if fresh else row.failures + 1
        row.last_failure_at = now
        wait = delay_after(row.failures)
        row.locked_until = now + wait
    return Lockout(wait)


def record_success(database: Database, guarded: Guarded, key: str) -> None:
    with database.session() as session:
        session.execute(delete(AuthFailureRow).where(AuthFailureRow.scope == guarded.value,
                                                     AuthFailureRow.client_key == key))


class Verdict(str, enum.Enum):
    ACCEPTED = "accepted"
    WRONG = "wrong"  # counted; ``wait`` is what the next try costs
    MUST_WAIT = "must wait"  # refused before the password was read


@dataclass(frozen=True)
class PasswordCheck:
    verdict: Verdict
    wait: timedelta  # before this address's next try
    key: str  # the address as counted (client_key)


def check_password(database: Database, guarded: Guarded, address: str | None, given: str,
                   expected: str, now: datetime) -> PasswordCheck:
    """A password typed into a form, from ``address``: refused unread while the address
    must wait, else compared in constant time and counted."""
    key = client_key(address)
    current = current_lockout(database, guarded, key, now)
    if current.locked:
        return PasswordCheck(Verdict.MUST_WAIT, current.wait, key)
    if not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
        return PasswordCheck(Verdict.WRONG, record_failure(database, guarded, key, now).wait, key)
    record_success(database, guarded, key)
    return PasswordCheck(Verdict.ACCEPTED, timedelta(0), key)
