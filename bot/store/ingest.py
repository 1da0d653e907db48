"""The webhook's write path: event, alert upsert and outbox job in one transaction.

This is the durability promise: once :func:`store_event` returns ``accepted``, the event
and the job that will deliver it are committed together; if anything fails half-way,
nothing is stored and the webhook answers 503 so ThousandEyes retries.
"""

from __future__ import annotations

import enum
import functools
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, Table, TextClause, bindparam, insert, select, text, update

from bot.store.database import Database
from bot.store.jobs import job_values, mark_lane_ready
from bot.store.models import AlertRow, AlertState, EventRow, JobKind, JobRow
from bot.thousandeyes import AgentAlert, AlertKind, Event, TestAlert, Transition
from bot.thousandeyes.events import with_duplicates

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
    # When the queued job can start at the earliest (its lane may be paced), so the
    # webhook wakes a delivery thread only when there is something it can do.
    job_due_at: datetime | None = None


def store_event(
    db: Database,
    event: Event,
    *,
    route: str,
    channel: str,
    body_text: str,
    now: datetime,
    team_id: str | None = None,
    default_channel: str = "",
) -> IngestResult:
    """Store one webhook event atomically; a repeated ``eventId`` stores nothing.

    ``default_channel`` (SLACK_CHANNEL) only chooses the delivery lane of a job for ''.

    Core statements, not the ORM's unit of work: this is the hot path of every webhook,
    and four plain statements cost a fraction of the ORM's bookkeeping for them.
    """
    try:
        with db.session() as session:
            return _store(session.connection(), event, route, channel, team_id, body_text, now,
                          default_channel)
    except _DuplicateEvent:
        return IngestResult(IngestStatus.DUPLICATE)


class _DuplicateEvent(Exception):
    """Raised inside the transaction so that everything it wrote is rolled back."""


def _store(
    connection: Connection, event: Event, route: str, channel: str, team_id: str | None,
    body_text: str, now: datetime, default_channel: str,
) -> IngestResult:
    alert_pk = None
    job_kind = _job_kind_for(event)
    if event.alert is not None:
        alert_pk, job_kind = _upsert_alert(connection, event, route, channel, team_id, now)
    event_pk = _insert_unless_present(connection, EventRow, dict(
        route=route, channel=channel, event_id=event.event_id, event_type=event.event_type,
        received_at=now, payload=body_text, alert_id=alert_pk,
    ))
    if event_pk is None:
        raise _DuplicateEvent(event.event_id)
    job_pk = job_due_at = None
    if job_kind is not None:
        job = job_values(kind=job_kind, alert_id=alert_pk, channel=channel, team_id=team_id,
                         now=now, event_pk=event_pk, default_channel=default_channel)
        job_pk = connection.scalar(insert(JobRow.__table__).returning(JobRow.__table__.c.id), job)
        job_due_at = mark_lane_ready(connection, job)
    return IngestResult(IngestStatus.ACCEPTED, event_pk=event_pk, alert_pk=alert_pk,
                        job_pk=job_pk, job_due_at=job_due_at)


def _insert_unless_present(connection: Connection, model: type, values: dict[str, Any]) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: the new id, or None if a unique key
    already holds such a row."""
    return connection.scalar(_insert_unless_present_statement(model.__table__, tuple(values)), values)


@functools.lru_cache(maxsize=16)
def _insert_unless_present_statement(table: Table, columns: tuple[str, ...]) -> TextClause:
    # SQLAlchemy 2.0 does not cache the compiled form of its dialects' on_conflict_do_nothing()
    # inserts, and compiling one costs more than running it. SQLite and PostgreSQL share
    # this syntax, so one text statement, typed from the table's columns, serves both.
    names = ", ".join(columns)
    placeholders = ", ".join(f":{column}" for column in columns)
    return text(
        f"INSERT INTO {table.name} ({names}) VALUES ({placeholders})"
        " ON CONFLICT DO NOTHING RETURNING id"
    ).bindparams(*(bindparam(column, type_=table.c[column].type) for column in columns))


def _job_kind_for(event: Event) -> str | None:
    if not event.known:
        return JobKind.UNKNOWN_EVENT
    if event.alert is None:
        return JobKind.WEBHOOK_TEST
    return JobKind.ALERT_TRIGGER if event.transition is Transition.TRIGGER else JobKind.ALERT_CLEAR


def _upsert_alert(
    connection: Connection, event: Event, route: str, channel: str, team_id: str | None,
    now: datetime,
) -> tuple[int, str | None]:
    """Apply the event to its alert row; returns the row's id and the job to queue (if any)."""
    alert = event.alert
    assert alert is not None and event.key_kind is not None
    key = dict(route=route, channel=channel, kind=event.key_kind.value, alert_key=alert.key)
    current = _lock_alert(connection, key)
    if current is None:
        values = _changes(None, event, now)
        alert_pk = _insert_unless_present(connection, AlertRow, dict(
            key, first_seen_at=now, slack_team=team_id, **values))
        if alert_pk is not None:
            return alert_pk, _job_kind_for(event)
        # Another transaction created the row since we looked (PostgreSQL): its insert
        # has committed, so the row can now be locked and updated like any other.
        current = _lock_alert(connection, key)
        assert current is not None

    if event.transition is Transition.CLEAR and current.state == AlertState.CLEARED:
        # ThousandEyes also clears when a rule is deleted; the alert is already shown
        # cleared, so a second "Cleared" reply would only be noise.
        log.info("repeated clear %s for cleared alert %s ignored", event.event_id, current.id)
        return current.id, None
    if event.transition is Transition.TRIGGER and _is_stale_trigger(current, alert):
        # A trigger retried by ThousandEyes after its clear was already accepted: keep the
        # record of it, but never reopen a cleared alert or post about it.
        log.info("stale trigger %s for cleared alert %s ignored", event.event_id, current.id)
        return current.id, None
    alerts = AlertRow.__table__
    connection.execute(
        update(alerts).where(alerts.c.id == current.id)
        .values(slack_team=team_id, **_changes(current, event, now))
    )
    return current.id, _job_kind_for(event)


def _lock_alert(connection: Connection, key: dict[str, str]) -> Row[Any] | None:
    return connection.execute(_LOCK_ALERT, key).first()


def _lock_alert_statement() -> Select[Any]:
    alerts = AlertRow.__table__
    key_columns = ("route", "channel", "kind", "alert_key")
    return (
        select(alerts.c.id, alerts.c.state, alerts.c.cleared_at, alerts.c.triggered_at,
               alerts.c.trigger_count)
        .where(*(alerts.c[column] == bindparam(column) for column in key_columns))
        .with_for_update()
    )


_LOCK_ALERT = _lock_alert_statement()


def _is_stale_trigger(row: Row[Any], alert: TestAlert | AgentAlert) -> bool:
    if row.state != AlertState.CLEARED:
        return False
    if alert.date_start is None or row.cleared_at is None:
        return True
    return alert.date_start <= row.cleared_at


def _changes(current: Row[Any] | None, event: Event, now: datetime) -> dict[str, Any]:
    """The alert columns this event sets, given the row as it was (None: a new alert)."""
    alert = event.alert
    assert alert is not None
    values: dict[str, Any] = dict(
        data=alert_payload(event),
        event_type=event.event_type,
        last_event_at=now,
        stale_at=None,  # news from ThousandEyes: no longer stale (STALE_AFTER)
        rule_name=alert.rule_name[:500],
        title=(alert.test_name if isinstance(alert, TestAlert) else alert.agent_name)[:500],
        severity=alert.severity[:32] if alert.severity else None,
        permalink=alert.permalink[:2000],
    )
    if current is None or current.triggered_at is None:
        values["triggered_at"] = alert.date_start
    if event.transition is Transition.TRIGGER:
        values.update(state=AlertState.TRIGGERED, cleared_at=None,
                      trigger_count=(current.trigger_count or 0) + 1 if current else 1)
    else:
        values.update(state=AlertState.CLEARED, cleared_at=alert.date_end or now)
        if current is None:  # a clear whose trigger was never seen
            values["trigger_count"] = 0
    return values


def alert_payload(event: Event) -> dict[str, Any]:
    """The alert object as received, kept verbatim so templates can re-render from it
    (``parse_stored_alert`` reads it back). An ``agentAlert`` or ``deviceAlert`` that
    came beside ``alert`` is kept inside it."""
    if event.key_kind is AlertKind.AGENT and isinstance(event.raw.get("agentAlert"), dict):
        return event.raw["agentAlert"]
    value = event.raw.get("alert")
    return dict(with_duplicates(value, event.raw)) if isinstance(value, dict) else {}

