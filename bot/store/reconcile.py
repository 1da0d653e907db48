"""What the ThousandEyes API sync reads from the store, and how it writes its findings.

Its writes are webhook events (``bot.thousandeyes.api_alerts`` builds them) stored by
ingest like any other, with ``api_sync`` set: the alert row, the event and the outbox jobs
commit together, and where a webhook got there first (the alert exists, or is already
cleared) ingest writes nothing and answers a duplicate. Every check is made again inside
the write's transaction with the alert row locked, so a webhook racing the sync leaves
one parent and one clear whichever commits first.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot.db.database import Database
from bot.db.models import AlertRow, AlertState
from bot.store.ingest import IncomingEvent, IngestResult, IngestStatus, store_one
from bot.thousandeyes import AlertKind

# Keys asked for in one IN (...): well under SQLite's and PostgreSQL's parameter limits.
CHUNK = 500
# Open alerts read per transaction: on SQLite every transaction is the writer, so a long
# read would hold webhooks back; a batch of ids takes a few milliseconds.
READ_BATCH = 1000


@dataclass(frozen=True)
class StoredAlert:
    """An alert row as the sync matches it."""

    id: int
    route: str
    channel: str
    team_id: str | None
    alert_key: str
    subject_key: str | None
    triggered_at: datetime | None


@dataclass(frozen=True)
class Place:
    """Where a new alert goes: a route, its requested channel ('' = default), workspace."""

    route: str
    channel: str
    team_id: str | None


def open_alerts(db: Database, batch: int = READ_BATCH) -> list[StoredAlert]:
    """Every open alert keyed by ``alertId`` (the only ids the API knows), read in short
    transactions of ``batch`` rows (by id: an alert opened meanwhile is read or not, and
    the next run sees it)."""
    columns = (AlertRow.id, AlertRow.route, AlertRow.channel, AlertRow.slack_team,
               AlertRow.alert_key, AlertRow.subject_key, AlertRow.triggered_at)
    found: list[StoredAlert] = []
    after = 0
    while True:
        with db.session() as session:
            rows = session.execute(
                select(*columns)
                .where(AlertRow.state == AlertState.TRIGGERED,
                       AlertRow.kind == AlertKind.TEST.value, AlertRow.id > after)
                .order_by(AlertRow.id).limit(batch)).all()
        found.extend(StoredAlert(*row) for row in rows)
        if len(rows) < batch:
            return found
        after = rows[-1].id


def alert_data(db: Database, alert_id: int) -> dict[str, Any] | None:
    """The alert's stored payload (its latest event's alert object)."""
    with db.session() as session:
        return session.scalar(select(AlertRow.data).where(AlertRow.id == alert_id))


def known_keys(db: Database, keys: Iterable[str]) -> set[str]:
    """Those of ``keys`` some stored alert has, open or cleared."""
    wanted = sorted(set(keys))
    found: set[str] = set()
    with db.session() as session:
        for chunk in _chunks(wanted):
            found.update(session.scalars(select(AlertRow.alert_key).where(
                AlertRow.kind == AlertKind.TEST.value, AlertRow.alert_key.in_(chunk))))
    return found


def last_place_of_rule(db: Database, rule_id: str) -> Place | None:
    """Where the rule's latest alert went (by ``subject_key``, which starts with the
    rule's id): a new alert of the rule goes there too."""
    pattern = "rule:" + rule_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    with db.session() as session:
        row = session.execute(
            select(AlertRow.route, AlertRow.channel, AlertRow.slack_team)
            .where(AlertRow.subject_key.like(pattern + "|%", escape="\\"))
            .order_by(AlertRow.id.desc()).limit(1)).first()
    return Place(*row) if row is not None else None


def store_finding(db: Database, incoming: IncomingEvent) -> IngestResult:
    """Store the sync's event (``incoming.api_sync`` set); DUPLICATE when a webhook, or
    an earlier run, already brought what it says."""
    assert incoming.api_sync is not None
    return store_one(db, incoming)


def stored(result: IngestResult) -> bool:
    return result.status is IngestStatus.ACCEPTED


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]
