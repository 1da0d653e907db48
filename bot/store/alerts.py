"""Reading an alert's state for rendering, and recording where its parent message is."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import ColumnElement, Select, or_, select, text, update
from sqlalchemy.orm import Session

from bot.clock import utcnow
from bot.db.database import Database
from bot.db.models import OPEN_ALERT_CONDITION, AcknowledgementRow, AlertRow, AlertState
from bot.render.actions import encode_alert_ref
from bot.render.view import AlertView, DisplayState, Responder
from bot.store.snoozes import snooze_shown
from bot.thousandeyes import AlertKind, ParseOptions, alert_kind_of, parse_stored_alert


def load_alert_view(
    db: Database, alert_id: int, *, options: ParseOptions
) -> tuple[AlertRow, AlertView]:
    """The stored alert and the view templates render from, read in one transaction.

    ``options`` (``Config.parse_options()``) re-reads the stored payload's dates in the
    account's zone, exactly as the webhook read them.
    """
    with db.session() as session:
        row = session.get(AlertRow, alert_id)
        if row is None:
            raise LookupError(f"alert {alert_id} does not exist")
        acknowledgements = list(session.scalars(
            select(AcknowledgementRow)
            .where(AcknowledgementRow.alert_id == alert_id,
                   AcknowledgementRow.withdrawn_at.is_(None))
            .order_by(AcknowledgementRow.acknowledged_at, AcknowledgementRow.id)
        ))
        view = build_view(row, acknowledgements, options=options)
        snooze = snooze_shown(session, row, utcnow()) if row.state == AlertState.TRIGGERED else None
        if snooze is not None:
            view = replace(view, snoozed_until=snooze.until, snoozed_by=snooze.by,
                           snoozed_where=snooze.where)
        return row, view


def build_view(
    row: AlertRow, acknowledgements: list[AcknowledgementRow], *, options: ParseOptions
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
    with db.session() as session:
        record_parent_in(session, alert_id, channel, ts)


def record_parent_in(session: Session, alert_id: int, channel: str, ts: str,
                     shown: str | None = None) -> None:
    """``record_parent`` in the caller's transaction (delivery records it with the job);
    ``shown``: the fingerprint of what the parent shows, when it is known."""
    alerts = AlertRow.__table__  # Core: the ORM's bulk-update bookkeeping cost more
    session.execute(
        update(alerts)
        .where(alerts.c.id == alert_id, alerts.c.slack_ts.is_(None))
        .values(slack_channel=channel, slack_ts=ts, parent_shown=shown)
    )


def record_parent_shown(db: Database, alert_id: int, shown: str) -> None:
    """The alert's parent was updated to show ``shown`` (a fingerprint)."""
    with db.session() as session:
        alerts = AlertRow.__table__
        session.execute(update(alerts).where(alerts.c.id == alert_id)
                        .values(parent_shown=shown))


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
