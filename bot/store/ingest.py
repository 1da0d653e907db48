"""The webhook's write path: event, alert upsert and outbox job in one transaction.

This is the durability promise: once :func:`store_event` returns ``accepted``, the event
and the job that will deliver it are committed together; if anything fails half-way,
nothing is stored and the webhook answers 503 so ThousandEyes retries.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import replace
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Row, bindparam, select, text

from bot.db.database import Database
from bot.db.models import AlertRow, AlertState, ApiSync, EventRow, JobKind
from bot.db.prepared import Prepared, RawTransaction, insert_returning_id
from bot.outbox.enqueue import (
    INSERT_JOB,
    MARK_LANE_READY,
    job_due_time,
    job_values,
    lane_ready_values,
)
from bot.store import storm_notes
from bot.store.adoption import adoption_for_new_alert, subject_key
from bot.store.incoming import (  # the write path's own names
    IncomingEvent as IncomingEvent,
    IngestResult as IngestResult,
    IngestStatus as IngestStatus,
    body_digest as body_digest,
)
from bot.store.reminders import ReminderArgs
from bot.thousandeyes import AgentAlert, AlertKind, Event, TestAlert, Transition
from bot.thousandeyes.events import with_duplicates

log = logging.getLogger(__name__)


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
    """Store one webhook event atomically; an ``eventId`` stored before with the same
    body stores nothing."""
    return store_one(db, IncomingEvent(event, route, channel, body_text, now, team_id,
                                       default_channel))


def store_one(db: Database, incoming: IncomingEvent) -> IngestResult:
    """:func:`store_event` for an :class:`IncomingEvent`, in its own transaction.

    Prepared statements on the driver's cursor, not the ORM or Core's execution: this
    is the hot path of every webhook (``bot.db.prepared`` says what that saves).
    """
    try:
        with db.raw_transaction() as transaction:
            return write_event(transaction, incoming)
    except DuplicateEvent:
        return IngestResult(IngestStatus.DUPLICATE)


class DuplicateEvent(Exception):
    """Raised inside the transaction so that everything it wrote is rolled back."""


def write_event(transaction: RawTransaction, incoming: IncomingEvent,
                lanes: LaneMarks | None = None) -> IngestResult:
    """The event's rows in the caller's transaction.

    An event stored before (same eventId, same body) is answered a duplicate before
    anything is written. One that another transaction stores between that look and our
    insert raises :class:`DuplicateEvent` (after writing the alert), so the caller rolls
    back.

    With ``lanes``, the job's lane is marked ready later, by :meth:`LaneMarks.mark`, once
    for all the jobs of the transaction, and ``job_due_at`` is left for it to fill.
    """
    event, route, channel, team_id, now = (incoming.event, incoming.route, incoming.channel,
                                           incoming.team_id, incoming.now)
    bodies_stored = transaction.rows(_BODIES_OF_EVENT_ID, dict(
        route=route, channel=channel, event_id=event.event_id))
    if any(row.body_hash == incoming.body_hash for row in bodies_stored):
        return IngestResult(IngestStatus.DUPLICATE)
    alert_pk = None
    trigger_count = 0
    job_kind = _job_kind_for(event)
    storm_id = None
    if event.alert is not None:
        alert_pk, job_kind, trigger_count, storm_id = _upsert_alert(transaction, incoming)
    event_pk = transaction.scalar(_INSERT_EVENT, dict(
        route=route, channel=channel, event_id=event.event_id, event_type=event.event_type,
        received_at=now, payload=incoming.body_text, body_hash=incoming.body_hash,
        alert_id=alert_pk,
    ))
    if event_pk is None:
        raise DuplicateEvent(event.event_id)
    job_pk = job_due_at = job = None
    if job_kind == JobKind.ALERT_CLEAR and storm_id is not None:
        # Listed in a storm's roll-up: its clear is told with the storm's other news.
        assert alert_pk is not None
        notes = storm_notes.add_clear_in(transaction, storm_id, alert_pk, now)
        job_kind = None
        if notes is not None:
            job = job_values(kind=JobKind.STORM_NOTES, alert_id=notes.alert_id,
                             channel=notes.channel, team_id=notes.team_id, now=now,
                             event_pk=event_pk, data=notes.data, due=notes.due,
                             default_channel=incoming.default_channel)
    elif job_kind is not None:
        job = job_values(kind=job_kind, alert_id=alert_pk, channel=channel, team_id=team_id,
                         now=now, event_pk=event_pk, default_channel=incoming.default_channel)
    if job is not None:
        job_pk = transaction.scalar(INSERT_JOB, dict(job, progress={}))
        if lanes is None:
            lane = transaction.first(MARK_LANE_READY, lane_ready_values(job))
            job_due_at = job_due_time(job, lane)
        else:
            lanes.add(job)
    if job_kind == JobKind.ALERT_TRIGGER and incoming.reminders is not None:
        for reminder in _reminder_jobs(incoming, alert_pk, event_pk, trigger_count):
            transaction.scalar(INSERT_JOB, dict(reminder, progress={}))
            # The trigger's job marked the same lane ready sooner; this keeps the
            # lane's earliest due time right should the trigger's job be gone by then.
            if lanes is None:
                transaction.first(MARK_LANE_READY, lane_ready_values(reminder))
            else:
                lanes.add(reminder)
    return IngestResult(IngestStatus.ACCEPTED, event_pk=event_pk, alert_pk=alert_pk,
                        job_pk=job_pk, job_due_at=job_due_at, job=job,
                        reused_id=bool(bodies_stored))


class LaneMarks:
    """The lanes a transaction's new jobs are in, marked ready once each at its end.

    One upsert per lane instead of one per job (a batch's jobs mostly share a lane), and
    touched last, so a lane's row lock (PostgreSQL) is held only for the commit.
    """

    def __init__(self) -> None:
        self._earliest: dict[str, dict[str, Any]] = {}

    def add(self, job: dict[str, Any]) -> None:
        known = self._earliest.get(job["lane"])
        if known is None or job["next_attempt_at"] < known["next_attempt_at"]:
            self._earliest[job["lane"]] = job

    def mark(self, transaction: RawTransaction, results: list[IngestResult]) -> list[IngestResult]:
        """Mark every lane ready; the results with each job's earliest start filled in."""
        rows = {lane: transaction.first(MARK_LANE_READY, lane_ready_values(job))
                for lane, job in self._earliest.items()}
        return [replace(result, job_due_at=job_due_time(result.job, rows[result.job["lane"]]))
                if result.job is not None else result for result in results]


_EVENT_COLUMNS = ("route", "channel", "event_id", "event_type", "received_at", "payload",
                  "body_hash", "alert_id")
_INSERT_EVENT = Prepared(insert_returning_id(EventRow.__table__, _EVENT_COLUMNS,
                                            unless_present=True))


def _bodies_of_event_id_statement() -> Prepared:
    events = EventRow.__table__
    key_columns = ("route", "channel", "event_id")
    statement = select(events.c.body_hash).where(
        *(events.c[column] == bindparam(column, type_=events.c[column].type)
          for column in key_columns))
    return Prepared(statement, [("body_hash", events.c.body_hash.type)])


# The bodies stored under one eventId: read from the unique key's first three columns.
_BODIES_OF_EVENT_ID = _bodies_of_event_id_statement()


def _reminder_jobs(incoming: IncomingEvent, alert_pk: int | None, event_pk: int,
                   trigger_count: int) -> list[dict[str, Any]]:
    """The trigger's reminders, each due REMINDER_AFTER after the one before."""
    plan = incoming.reminders
    assert plan is not None
    jobs = []
    for number, due in enumerate(plan.due_times(incoming.now), start=1):
        args = ReminderArgs(number, int(plan.after.total_seconds()), trigger_count)
        job = job_values(kind=JobKind.REMINDER, alert_id=alert_pk, channel=incoming.channel,
                         team_id=incoming.team_id, now=incoming.now, event_pk=event_pk,
                         data=args.to_data(), default_channel=incoming.default_channel)
        # Created when due: its age (DELIVERY_MAX_AGE, the metrics' waits) counts from
        # then, not from the trigger hours earlier.
        job.update(next_attempt_at=due, created_at=due, updated_at=due)
        jobs.append(job)
    return jobs


def _job_kind_for(event: Event) -> str | None:
    if not event.known:
        return JobKind.UNKNOWN_EVENT
    if event.alert is None:
        return JobKind.WEBHOOK_TEST
    return JobKind.ALERT_TRIGGER if event.transition is Transition.TRIGGER else JobKind.ALERT_CLEAR


class _Upserted(NamedTuple):
    alert_pk: int
    job_kind: str | None  # the job to queue, if any
    trigger_count: int  # after the event
    storm_id: int | None  # the storm whose roll-up lists the alert


def _upsert_alert(transaction: RawTransaction, incoming: IncomingEvent) -> _Upserted:
    """Apply the event to its alert row."""
    event, route, channel, team_id, now = (incoming.event, incoming.route, incoming.channel,
                                           incoming.team_id, incoming.now)
    alert = event.alert
    assert alert is not None and event.key_kind is not None
    key = dict(route=route, channel=channel, kind=event.key_kind.value, alert_key=alert.key)
    current = transaction.first(_LOCK_ALERT, key)
    if current is None:
        values = dict(key, first_seen_at=now, slack_team=team_id, api_sync=incoming.api_sync,
                      **_changes(None, event, now))
        if event.transition is Transition.TRIGGER:
            adoption = adoption_for_new_alert(
                transaction, route=route, channel=channel, subject=values["subject_key"],
                now=now, flap_window=incoming.flap_window)
            if adoption is not None:
                values.update(thread_alert_id=adoption.thread_alert_id,
                              thread_reason=adoption.reason.value)
        alert_pk = transaction.scalar(_insert_alert_statement(tuple(values)), values)
        if alert_pk is not None:
            return _Upserted(alert_pk, _job_kind_for(event), values["trigger_count"], None)
        # Another transaction created the row since we looked (PostgreSQL): its insert
        # has committed, so the row can now be locked and updated like any other.
        current = transaction.first(_LOCK_ALERT, key)
        assert current is not None

    if incoming.api_sync is not None and (event.transition is Transition.TRIGGER
                                          or current.state == AlertState.CLEARED):
        # The sync's view is older than this row (a webhook, or an earlier sync, was
        # first): writing nothing is what keeps one parent and one clear.
        raise DuplicateEvent(event.event_id)
    if event.transition is Transition.CLEAR and current.state == AlertState.CLEARED:
        # ThousandEyes also clears when a rule is deleted; the alert is already shown
        # cleared, so a second "Cleared" reply would only be noise.
        log.info("repeated clear %s for cleared alert %s ignored", event.event_id, current.id)
        return _Upserted(current.id, None, current.trigger_count, current.storm_id)
    if event.transition is Transition.TRIGGER and _is_stale_trigger(current, alert):
        # A trigger retried by ThousandEyes after its clear was already accepted: keep the
        # record of it, but never reopen a cleared alert or post about it.
        log.info("stale trigger %s for cleared alert %s ignored", event.event_id, current.id)
        return _Upserted(current.id, None, current.trigger_count, current.storm_id)
    changes = dict(slack_team=team_id, api_sync=incoming.api_sync,
                   **_changes(current, event, now))
    job_kind = _job_kind_for(event)
    if (event.transition is Transition.TRIGGER and current.state == AlertState.TRIGGERED
            and current.api_sync == ApiSync.FOUND):
        # The webhook of an alert the sync found first: the same trigger, late. Its richer
        # payload re-renders the parent; it is not "triggered again".
        changes["trigger_count"] = current.trigger_count
        job_kind = JobKind.REFRESH_PARENT
    transaction.rows(_update_alert_statement(tuple(changes)), dict(changes, alert_pk=current.id))
    return _Upserted(current.id, job_kind,
                     changes.get("trigger_count", current.trigger_count), current.storm_id)


@functools.lru_cache(maxsize=16)
def _insert_alert_statement(columns: tuple[str, ...]) -> Prepared:
    # The columns differ by transition (a clear never seen triggered sets trigger_count).
    return Prepared(insert_returning_id(AlertRow.__table__, columns, unless_present=True))


@functools.lru_cache(maxsize=16)
def _update_alert_statement(columns: tuple[str, ...]) -> Prepared:
    alerts = AlertRow.__table__
    assignments = ", ".join(f"{column} = :{column}" for column in columns)
    return Prepared(text(f"UPDATE alerts SET {assignments} WHERE id = :alert_pk").bindparams(
        *(bindparam(column, type_=alerts.c[column].type) for column in columns),
        bindparam("alert_pk", type_=alerts.c.id.type),
    ))


def _lock_alert_statement() -> Prepared:
    alerts = AlertRow.__table__
    columns = ("id", "state", "cleared_at", "triggered_at", "trigger_count", "storm_id",
               "api_sync")
    key_columns = ("route", "channel", "kind", "alert_key")
    # FOR UPDATE only where there is row locking (SQLite's BEGIN IMMEDIATE already
    # excludes every other writer); the dialect's compiler knows which.
    statement = (
        select(*(alerts.c[column] for column in columns))
        .where(*(alerts.c[column] == bindparam(column) for column in key_columns))
        .with_for_update()
    )
    return Prepared(statement, [(column, alerts.c[column].type) for column in columns])


_LOCK_ALERT = _lock_alert_statement()


def _is_stale_trigger(row: Row[Any], alert: TestAlert | AgentAlert) -> bool:
    if row.state != AlertState.CLEARED:
        return False
    if alert.date_start is None or row.cleared_at is None:
        return True
    return bool(alert.date_start <= row.cleared_at)


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
        subject_key=subject_key(alert),
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
    if event.key_kind is AlertKind.AGENT and isinstance(agent := event.raw.get("agentAlert"), dict):
        return agent
    value = event.raw.get("alert")
    return dict(with_duplicates(value, event.raw)) if isinstance(value, dict) else {}

