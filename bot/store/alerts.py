"""Reading an alert's state for rendering, and recording where its parent message is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Select, bindparam, or_, select, text, update
from sqlalchemy.orm.attributes import instance_dict
from sqlalchemy.orm.instrumentation import manager_of_class

from bot.clock import utcnow
from bot.db.database import Database
from bot.db.models import OPEN_ALERT_CONDITION, AcknowledgementRow, AlertRow, AlertState
from bot.db.prepared import Prepared, RawTransaction
from bot.render.actions import encode_alert_ref
from bot.render.view import AlertView, DisplayState, Responder
from bot.store.snoozes import SnoozeShown, snooze_shown_in
from bot.thousandeyes import AlertKind, ParseOptions, alert_kind_of, parse_stored_alert


def load_alert_view(
    db: Database, alert_id: int, *, options: ParseOptions
) -> tuple[AlertRow, AlertView]:
    """The stored alert and the view templates render from, read in one transaction
    (a read-only one: on SQLite it takes no writer turn).

    ``options`` (``Config.parse_options()``) re-reads the stored payload's dates in the
    account's zone, exactly as the webhook read them.
    """
    with db.raw_transaction(read_only=True) as transaction:
        stored = read_alert(transaction, alert_id, utcnow())
    return alert_view(stored, options=options)


@dataclass(frozen=True)
class StoredAlert:
    """An alert's rows as one transaction read them, not yet parsed (see alert_view):
    delivery reads them in its claim's transaction and parses them after its commit."""

    alert_id: int
    row: Any | None  # the alerts row; None: there is no such alert
    acknowledgements: list[Any]  # the standing ones, oldest first
    snooze: SnoozeShown | None


def read_alert(transaction: RawTransaction, alert_id: int, now: datetime) -> StoredAlert:
    """What :func:`alert_view` needs of the alert, in the caller's transaction."""
    row = transaction.first(_ALERT, {"alert_id": alert_id})
    if row is None:
        return StoredAlert(alert_id, None, [], None)
    acknowledgements = transaction.rows(_STANDING_ACKNOWLEDGEMENTS, {"alert_id": alert_id})
    snooze = (snooze_shown_in(transaction, row.route, row.channel, row.subject_key, now)
              if row.state == AlertState.TRIGGERED and row.subject_key is not None else None)
    return StoredAlert(alert_id, row, acknowledgements, snooze)


def alert_view(stored: StoredAlert, *, options: ParseOptions) -> tuple[AlertRow, AlertView]:
    """The alert (a detached ``AlertRow``) and its view, from what :func:`read_alert` read."""
    if stored.row is None:
        raise LookupError(f"alert {stored.alert_id} does not exist")
    row = _detached_alert(stored.row)
    view = build_view(row, stored.acknowledgements, options=options)
    if stored.snooze is not None:
        view = replace(view, snoozed_until=stored.snooze.until, snoozed_by=stored.snooze.by,
                       snoozed_where=stored.snooze.where)
    return row, view


def _detached_alert(columns: Any) -> AlertRow:
    # As the ORM makes an instance from a row it loaded: no constructor and no change
    # events, which cost delivery more than reading the row (a constructor call sets
    # each of the 28 columns through the attribute machinery).
    row: AlertRow = _ALERT_CLASS.new_instance()
    instance_dict(row).update(columns._asdict())
    return row


_ALERTS = AlertRow.__table__
_ALERT_CLASS = manager_of_class(AlertRow)
# Read for every job about an alert: compiled once (bot.db.prepared).
_ALERT = Prepared(select(_ALERTS).where(_ALERTS.c.id == bindparam("alert_id")))
_STANDING_ACKNOWLEDGEMENTS = Prepared(
    select(AcknowledgementRow.user_id, AcknowledgementRow.user_name,
           AcknowledgementRow.acknowledged_at)
    .where(AcknowledgementRow.alert_id == bindparam("alert_id"),
           AcknowledgementRow.withdrawn_at.is_(None))
    .order_by(AcknowledgementRow.acknowledged_at, AcknowledgementRow.id))


class Acknowledged(Protocol):
    """An acknowledgement as a view shows it (an ``AcknowledgementRow``, or a row of one)."""

    @property
    def user_id(self) -> str: ...
    @property
    def user_name(self) -> str: ...
    @property
    def acknowledged_at(self) -> datetime: ...


def build_view(
    row: AlertRow, acknowledgements: Sequence[Acknowledged], *, options: ParseOptions
) -> AlertView:
    alert = parse_stored_alert(AlertKind(row.kind), row.data, options)
    responders = tuple(
        Responder(user_id=a.user_id, user_name=a.user_name or a.user_id,
                  acknowledged_at=a.acknowledged_at)
        for a in acknowledgements
    )
    if row.state == AlertState.CLEARED:
        state = DisplayState.CLEARED
    elif responders:
        state = DisplayState.ACKNOWLEDGED
    else:
        state = DisplayState.TRIGGERED
    return AlertView(
        alert_ref=encode_alert_ref(row.id),
        kind=alert_kind_of(alert),
        state=state,
        alert=alert,
        first_seen_at=row.first_seen_at,
        triggered_at=row.triggered_at,
        cleared_at=row.cleared_at,
        trigger_count=row.trigger_count,
        responders=responders,
        first_acknowledged_at=row.first_acknowledged_at,
        last_event_at=row.last_event_at,
        stale_since=row.stale_at if row.state == AlertState.TRIGGERED else None,
        thread_reason=row.thread_reason,
        in_storm=row.storm_id is not None,
        api_sync=row.api_sync,
    )


def record_parent(db: Database, alert_id: int, channel: str, ts: str) -> None:
    """Remember the parent message; only the first one posted counts."""
    with db.raw_transaction() as transaction:
        record_parent_in(transaction, alert_id, channel, ts)


def record_parent_in(transaction: RawTransaction, alert_id: int, channel: str, ts: str,
                     shown: str | None = None) -> None:
    """``record_parent`` in the caller's transaction (delivery records it with the job);
    ``shown``: the fingerprint of what the parent shows, when it is known."""
    transaction.rows(_RECORD_PARENT, dict(alert_id=alert_id, channel=channel, ts=ts,
                                          shown=shown))


_RECORD_PARENT = Prepared(
    update(_ALERTS).where(_ALERTS.c.id == bindparam("alert_id"), _ALERTS.c.slack_ts.is_(None))
    .values(slack_channel=bindparam("channel"), slack_ts=bindparam("ts"),
            parent_shown=bindparam("shown")))


def record_parent_shown(db: Database, alert_id: int, shown: str) -> None:
    """The alert's parent was updated to show ``shown`` (a fingerprint)."""
    with db.raw_transaction() as transaction:
        transaction.rows(_RECORD_SHOWN, dict(alert_id=alert_id, shown=shown))


_RECORD_SHOWN = Prepared(update(_ALERTS).where(_ALERTS.c.id == bindparam("alert_id"))
                         .values(parent_shown=bindparam("shown")))


# The partial index's own condition, as a literal: a bound ``state = ?`` would not let the
# planner use ix_alerts_open_by_channel (see bot.db.models).
OPEN_ALERT: ColumnElement[bool] = text(f"alerts.{OPEN_ALERT_CONDITION}")  # type: ignore[assignment]


def open_alerts_statement(channel_id: str, team_id: str | None,
                          limit: int) -> Select[tuple[AlertRow]]:
    """The query of :func:`open_alerts_in_channel`, apart so a test can read its plan."""
    statement = select(AlertRow).where(AlertRow.slack_channel == channel_id, OPEN_ALERT)
    if team_id is not None:
        # Alerts of the default route carry no workspace (one bot token serves them), as
        # clicks and snoozes see them (bot.store.acknowledgements.same_place).
        statement = statement.where(or_(AlertRow.slack_team.is_(None),
                                        AlertRow.slack_team == team_id))
    return statement.order_by(AlertRow.first_seen_at, AlertRow.id).limit(limit)


def open_alerts_in_channel(
    db: Database, channel_id: str, team_id: str | None, *, options: ParseOptions,
    limit: int = 20,
) -> list[tuple[AlertRow, AlertView]]:
    """Alerts not yet cleared whose parent message is in ``channel_id``, of the
    workspace ``team_id``, oldest first.

    A range of ix_alerts_open_by_channel read in order up to ``limit``: no scan, no sort
    (the workspace is checked on the rows the range yields).
    """
    with db.session() as session:
        rows = list(session.scalars(open_alerts_statement(channel_id, team_id, limit)))
        acknowledgements = list(session.scalars(
            select(AcknowledgementRow)
            .where(AcknowledgementRow.alert_id.in_([r.id for r in rows]),
                   AcknowledgementRow.withdrawn_at.is_(None))
            .order_by(AcknowledgementRow.acknowledged_at, AcknowledgementRow.id)
        )) if rows else []
    return [(row, build_view(row, [a for a in acknowledgements if a.alert_id == row.id],
                             options=options))
            for row in rows]
