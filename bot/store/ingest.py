"""The webhook's write path: event, alert upsert and outbox job in one transaction.

This is the durability promise: once :func:`store_event` returns ``accepted``, the event
and the job that will deliver it are committed together; if anything fails half-way,
nothing is stored and the webhook answers 503 so ThousandEyes retries.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.store.database import Database
from bot.store.jobs import enqueue
from bot.store.models import AlertRow, AlertState, EventRow, JobKind
from bot.thousandeyes import AgentAlert, Event, TestAlert, Transition

log = logging.getLogger(__name__)


class IngestStatus(str, enum.Enum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class IngestResult:
    status: IngestStatus
    event_pk: int | None = None
    alert_pk: int | None = None
    job_pk: int | None = None


def store_event(
    db: Database,
    event: Event,
    *,
    route: str,
    channel: str,
    body_text: str,
    now: datetime,
    team_id: str | None = None,
) -> IngestResult:
    """Store one webhook event atomically; a repeated ``eventId`` stores nothing.

    Two concurrent first triggers of one alert can collide on the alert's unique key
    (PostgreSQL); the loser retries once and then finds the winner's row.
    """
    for attempt in range(2):
        try:
            with db.session() as session:
                return _store(session, event, route, channel, team_id, body_text, now)
        except IntegrityError:
            if _event_exists(db, route, channel, event.event_id):
                return IngestResult(IngestStatus.DUPLICATE)
            if attempt == 1:
                raise
            log.info("alert row race on %s, retrying once", event.event_id)
    raise AssertionError("unreachable")


def _event_exists(db: Database, route: str, channel: str, event_id: str) -> bool:
    with db.session() as session:
        return session.scalar(
            select(EventRow.id).where(
                EventRow.route == route,
                EventRow.channel == channel,
                EventRow.event_id == event_id,
            )
        ) is not None


def _store(
    session: Session, event: Event, route: str, channel: str, team_id: str | None,
    body_text: str, now: datetime,
) -> IngestResult:
    row = EventRow(
        route=route,
        channel=channel,
        event_id=event.event_id,
        event_type=event.event_type,
        received_at=now,
        payload=body_text,
    )
    session.add(row)
    # Flushing the event first makes a repeated eventId fail before any other write.
    session.flush()

    alert_row = None
    job_kind = _job_kind_for(event)
    if event.alert is not None:
        alert_row, job_kind = _upsert_alert(session, event, route, channel, now)
        alert_row.slack_team = team_id
        row.alert_id = alert_row.id
    job = None
    if job_kind is not None:
        job = enqueue(
            session, kind=job_kind, alert_id=alert_row.id if alert_row is not None else None,
            channel=channel, team_id=team_id, now=now, event_pk=row.id,
        )
    session.flush()
    return IngestResult(
        IngestStatus.ACCEPTED,
        event_pk=row.id,
        alert_pk=alert_row.id if alert_row is not None else None,
        job_pk=job.id if job is not None else None,
    )


def _job_kind_for(event: Event) -> str | None:
    if not event.known:
        return JobKind.UNKNOWN_EVENT
    if event.alert is None:
        return JobKind.WEBHOOK_TEST
    return JobKind.ALERT_TRIGGER if event.transition is Transition.TRIGGER else JobKind.ALERT_CLEAR


def _upsert_alert(
    session: Session, event: Event, route: str, channel: str, now: datetime
) -> tuple[AlertRow, str | None]:
    """Apply the event to its alert row; returns the row and the job to queue (if any)."""
    alert = event.alert
    assert alert is not None and event.alert_kind is not None
    kind = event.alert_kind.value
    row = session.scalar(
        select(AlertRow)
        .where(
            AlertRow.route == route,
            AlertRow.channel == channel,
            AlertRow.kind == kind,
            AlertRow.alert_key == alert.key,
        )
        .with_for_update()
    )
    data = alert_payload(event)
    if row is None:
        row = AlertRow(
            route=route,
            channel=channel,
            kind=kind,
            alert_key=alert.key,
            first_seen_at=now,
            trigger_count=0,
        )
        session.add(row)
        _apply(row, event, data, now)
        session.flush()
        return row, _job_kind_for(event)

    if event.transition is Transition.CLEAR and row.state == AlertState.CLEARED:
        # ThousandEyes also clears when a rule is deleted; the alert is already shown
        # cleared, so a second "Cleared" reply would only be noise.
        log.info("repeated clear %s for cleared alert %s ignored", event.event_id, row.id)
        return row, None
    if event.transition is Transition.TRIGGER and _is_stale_trigger(row, alert):
        # A trigger retried by ThousandEyes after its clear was already accepted: keep the
        # record of it, but never reopen a cleared alert or post about it.
        log.info("stale trigger %s for cleared alert %s ignored", event.event_id, row.id)
        return row, None
    _apply(row, event, data, now)
    return row, _job_kind_for(event)


def _is_stale_trigger(row: AlertRow, alert: TestAlert | AgentAlert) -> bool:
    if row.state != AlertState.CLEARED:
        return False
    if alert.date_start is None or row.cleared_at is None:
        return True
    return alert.date_start <= row.cleared_at


def _apply(row: AlertRow, event: Event, data: dict[str, Any], now: datetime) -> None:
    alert = event.alert
    assert alert is not None
    row.data = data
    row.event_type = event.event_type
    row.last_event_at = now
    row.rule_name = alert.rule_name[:500]
    row.title = (alert.test_name if isinstance(alert, TestAlert) else alert.agent_name)[:500]
    row.severity = alert.severity[:32] if isinstance(alert, TestAlert) and alert.severity else None
    row.permalink = (alert.permalink if isinstance(alert, TestAlert) else "")[:2000]
    if row.triggered_at is None:
        row.triggered_at = alert.date_start
    if event.transition is Transition.TRIGGER:
        row.state = AlertState.TRIGGERED
        row.cleared_at = None
        row.trigger_count = (row.trigger_count or 0) + 1
    else:
        row.state = AlertState.CLEARED
        row.cleared_at = alert.date_end or now


def alert_payload(event: Event) -> dict[str, Any]:
    """The alert object as received, kept verbatim so templates can re-render from it."""
    key = "agentAlert" if isinstance(event.alert, AgentAlert) else "alert"
    value = event.raw.get(key)
    return value if isinstance(value, dict) else {}

