"""Channel routes: webhook URLs bound to one channel, each with its own Bearer token.

A route's token is shown once, when ``/thousandeyes connect`` creates it, and only its
SHA-256 is stored: tokens are 256 random bits, so a fast hash is enough to make a leaked
database useless for posting alerts.

Connecting and disconnecting are announced in the channel (bot.store.announcements), in
the transaction that makes the change, and a channel has at most
``MAX_ROUTES_PER_CHANNEL`` active routes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.orm import Session

from bot.db.database import Database
from bot.db.models import JobRow, JobStatus, RouteRow
from bot.db.prepared import Prepared
from bot.db.results import affected_rows
from bot.hashing import sha256_hex
from bot.store.announcements import Announcement, Change, announce

DEFAULT_ROUTE = "default"
# Enough for one webhook per alert rule group a team keeps apart; few enough that nobody
# fills a channel with URLs (each is a credential to post into it).
MAX_ROUTES_PER_CHANNEL = 20
_ROUTE_ID = re.compile(r"[a-z0-9]{8,32}", re.ASCII)
_MENTION = re.compile(r"^(|here|channel|subteam:S[A-Z0-9]{2,20})$")


@dataclass(frozen=True)
class RouteOptions:
    mention: str = ""  # "", "here", "channel" or "subteam:S0123"
    broadcast_clears: bool = False

    def __post_init__(self) -> None:
        if not _MENTION.match(self.mention):
            raise ValueError(f"not a mention option: {self.mention!r:.40}")


def token_matches(route: RouteRow, presented: str) -> bool:
    return hmac.compare_digest(sha256_hex(presented), route.token_hash)


def is_route_id(value: str) -> bool:
    return bool(_ROUTE_ID.fullmatch(value))


def create_route(
    db: Database, *, team_id: str | None, channel_id: str, created_by: str,
    options: RouteOptions, now: datetime, created_by_name: str = "",
) -> tuple[RouteRow, str] | None:
    """Create a route and announce it in its channel; returns it with its token (the
    only time the token exists), or None when the channel has its maximum of routes."""
    token = secrets.token_urlsafe(32)
    route = RouteRow(
        id=secrets.token_hex(8), team_id=team_id, channel_id=channel_id,
        token_hash=sha256_hex(token), mention=options.mention,
        broadcast_clears=options.broadcast_clears, created_by=created_by, created_at=now,
    )
    with db.session() as session:
        _one_connect_at_a_time(session, team_id, channel_id)
        active = session.scalar(
            select(func.count()).select_from(RouteRow)
            .where(RouteRow.team_id == team_id, RouteRow.channel_id == channel_id,
                   RouteRow.disabled_at.is_(None)))
        if (active or 0) >= MAX_ROUTES_PER_CHANNEL:
            return None
        session.add(route)
        announce(session, Announcement(Change.CONNECTED, created_by, created_by_name,
                                       route_id=route.id),
                 team_id=team_id, channel_id=channel_id, now=now)
    return route, token


def _one_connect_at_a_time(session: Session, team_id: str | None, channel_id: str) -> None:
    """Serialise the count-then-insert of routes in one channel, so that connects made at
    the same moment cannot together pass the maximum.

    SQLite: every transaction here is the only writer already (``BEGIN IMMEDIATE``).
    PostgreSQL: a transaction-scoped advisory lock named after the channel.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    name = f"routes:{team_id or ''}:{channel_id}".encode()
    key = int.from_bytes(hashlib.sha256(name).digest()[:8], "big", signed=True)
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def find_route(db: Database, route_id: str) -> RouteRow | None:
    if not is_route_id(route_id):
        return None
    with db.session() as session:
        return session.get(RouteRow, route_id)


def route_options(db: Database, route_id: str) -> RouteOptions | None:
    """The route's options (None: no such route). Delivery asks for every post of a
    routed alert: a read-only transaction, which on SQLite takes no writer turn."""
    if not is_route_id(route_id):
        return None
    with db.raw_transaction(read_only=True) as transaction:
        route = transaction.first(_OPTIONS, {"route_id": route_id})
    return None if route is None else RouteOptions(route.mention, route.broadcast_clears)


_ROUTES = RouteRow.__table__
_OPTIONS = Prepared(select(_ROUTES.c.mention, _ROUTES.c.broadcast_clears)
                    .where(_ROUTES.c.id == bindparam("route_id")))


def routes_in_channel(db: Database, team_id: str | None, channel_id: str) -> list[RouteRow]:
    with db.session() as session:
        return list(session.scalars(
            select(RouteRow)
            .where(RouteRow.team_id == team_id, RouteRow.channel_id == channel_id,
                   RouteRow.disabled_at.is_(None))
            .order_by(RouteRow.created_at)
        ))


def active_route_in_channel(
    db: Database, route_id: str, team_id: str | None, channel_id: str
) -> RouteRow | None:
    """The channel's active route of that id; None for another channel's or workspace's,
    so that nothing is learnt about routes elsewhere."""
    if not is_route_id(route_id):
        return None
    with db.session() as session:
        return session.scalar(select(RouteRow).where(
            RouteRow.id == route_id, RouteRow.team_id == team_id,
            RouteRow.channel_id == channel_id, RouteRow.disabled_at.is_(None)))


def disable_route(
    db: Database, route_id: str, team_id: str | None, channel_id: str, *, actor_id: str,
    actor_name: str = "", now: datetime,
) -> bool:
    """Disconnect a route of this channel and announce it there; False when there is no
    such active route (any more)."""
    with db.session() as session:
        result = session.execute(
            update(RouteRow)
            .where(RouteRow.id == route_id, RouteRow.team_id == team_id,
                   RouteRow.channel_id == channel_id, RouteRow.disabled_at.is_(None))
            .values(disabled_at=now, disabled_reason=f"disconnected by {actor_id}"[:200])
        )
        if not affected_rows(result):
            return False
        announce(session, Announcement(Change.DISCONNECTED, actor_id, actor_name,
                                       route_id=route_id),
                 team_id=team_id, channel_id=channel_id, now=now)
        return True


def disable_team(db: Database, team_id: str, reason: str, now: datetime) -> tuple[int, int]:
    """A workspace uninstalled the app: stop its routes and its queued jobs, saying why.

    Returns (routes disabled, jobs stopped). Stopped jobs are dead-lettered, so a
    reinstall followed by ``python -m bot jobs retry --all-dead`` delivers them.
    """
    with db.session() as session:
        routes = affected_rows(session.execute(
            update(RouteRow)
            .where(RouteRow.team_id == team_id, RouteRow.disabled_at.is_(None))
            .values(disabled_at=now, disabled_reason=reason[:200])
        ))
        jobs = affected_rows(session.execute(
            update(JobRow)
            .where(JobRow.team_id == team_id, JobRow.status == JobStatus.PENDING)
            .values(status=JobStatus.DEAD, last_error=reason[:2000], updated_at=now)
        ))
    return routes or 0, jobs or 0

