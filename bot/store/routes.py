"""Channel routes: webhook URLs bound to one channel, each with its own Bearer token.

A route's token is shown once, when ``/thousandeyes connect`` creates it, and only its
SHA-256 is stored: tokens are 256 random bits, so a fast hash is enough to make a leaked
database useless for posting alerts.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from bot.hashing import sha256_hex
from bot.store.database import Database
from bot.store.models import JobRow, JobStatus, RouteRow

DEFAULT_ROUTE = "default"
_ROUTE_ID = re.compile(r"^[a-z0-9]{8,32}$")
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
    return bool(_ROUTE_ID.match(value))


def create_route(
    db: Database, *, team_id: str | None, channel_id: str, created_by: str,
    options: RouteOptions, now: datetime,
) -> tuple[RouteRow, str]:
    """Create a route; returns it with its token (the only time the token exists)."""
    token = secrets.token_urlsafe(32)
    route = RouteRow(
        id=secrets.token_hex(8), team_id=team_id, channel_id=channel_id,
        token_hash=sha256_hex(token), mention=options.mention,
        broadcast_clears=options.broadcast_clears, created_by=created_by, created_at=now,
    )
    with db.session() as session:
        session.add(route)
    return route, token


def find_route(db: Database, route_id: str) -> RouteRow | None:
    if not is_route_id(route_id):
        return None
    with db.session() as session:
        return session.get(RouteRow, route_id)


def route_options(db: Database, route_id: str) -> RouteOptions | None:
    route = find_route(db, route_id)
    if route is None:
        return None
    return RouteOptions(route.mention, route.broadcast_clears)


def routes_in_channel(db: Database, team_id: str | None, channel_id: str) -> list[RouteRow]:
    with db.session() as session:
        return list(session.scalars(
            select(RouteRow)
            .where(RouteRow.team_id == team_id, RouteRow.channel_id == channel_id,
                   RouteRow.disabled_at.is_(None))
            .order_by(RouteRow.created_at)
        ))


def disable_route(
    db: Database, route_id: str, team_id: str | None, channel_id: str, reason: str, now: datetime
) -> bool:
    """Disconnect a route of this channel; False when there is no such active route."""
    with db.session() as session:
        result = session.execute(
            update(RouteRow)
            .where(RouteRow.id == route_id, RouteRow.team_id == team_id,
                   RouteRow.channel_id == channel_id, RouteRow.disabled_at.is_(None))
            .values(disabled_at=now, disabled_reason=reason[:200])
        )
        return bool(result.rowcount)


def disable_team(db: Database, team_id: str, reason: str, now: datetime) -> tuple[int, int]:
    """A workspace uninstalled the app: stop its routes and its queued jobs, saying why.

    Returns (routes disabled, jobs stopped). Stopped jobs are dead-lettered, so a
    reinstall followed by ``python -m bot jobs retry --all-dead`` delivers them.
    """
    with db.session() as session:
        routes = session.execute(
            update(RouteRow)
            .where(RouteRow.team_id == team_id, RouteRow.disabled_at.is_(None))
            .values(disabled_at=now, disabled_reason=reason[:200])
        ).rowcount
        jobs = session.execute(
            update(JobRow)
            .where(JobRow.team_id == team_id, JobRow.status == JobStatus.PENDING)
            .values(status=JobStatus.DEAD, last_error=reason[:2000], updated_at=now)
        ).rowcount
    return routes or 0, jobs or 0

