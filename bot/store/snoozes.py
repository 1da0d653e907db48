"""Snoozes: a rule on a test (or agent, device) kept quiet for 1, 4 or 24 hours.

Made from a parent's overflow menu, listed and cancelled with ``/thousandeyes snooze``.
While one runs, ingest threads the rule's new alerts on that test under the last parent
(bot.store.adoption); the parent shows it. Everything is checked against the database:
the click only says which alert. Making and cancelling a snooze are announced in the
channel (bot.store.announcements), in the transaction that makes the change.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from bot.db.database import Database
from bot.db.models import AlertRow, SnoozeRow, UtcDateTime
from bot.db.prepared import Prepared, RawTransaction
from bot.outbox.enqueue import CLICK_CAUSE, enqueue_parent_refresh
from bot.store.acknowledgements import Clicker, same_place
from bot.store.announcements import Announcement, Change, announce
from bot.store.snooze_upstream import (
    SnoozeUpstream,
    queue_window,
    queue_window_removal,
    where_snoozed,
)
from bot.thousandeyes import AlertKind, id_text
from bot.thousandeyes.events import alert_subject


class SnoozeOutcome(str, enum.Enum):
    RECORDED = "recorded"
    UNKNOWN_ALERT = "unknown_alert"
    FOREIGN = "foreign"  # the click came from another channel or workspace


@dataclass(frozen=True)
class SnoozeShown:
    """What a parent says of the snooze on its rule and test."""

    until: datetime
    by: str
    where: str = ""  # "snoozed in Slack and in ThousandEyes", or Slack only and why


def snooze_alert(db: Database, alert_id: int, clicker: Clicker, hours: int,
                 now: datetime, *, upstream: bool = False) -> SnoozeOutcome:
    """Snooze the alert's rule on its test from now, replacing a snooze already running
    (the last choice wins), and queue the parent's refresh, in one transaction.

    ``upstream`` (the ThousandEyes API link is on): a test's snooze is also asked of
    ThousandEyes as a suppression window, by a job (bot.store.snooze_upstream); the
    announcement then waits for its answer, to say where the snooze holds."""
    with db.session() as session:
        alert = session.scalar(select(AlertRow).where(AlertRow.id == alert_id).with_for_update())
        if alert is None or alert.subject_key is None:
            return SnoozeOutcome.UNKNOWN_ALERT
        if not same_place(alert, clicker):
            return SnoozeOutcome.FOREIGN
        for running in _running(session, alert.route, alert.channel, alert.subject_key, now):
            running.cancelled_at = now
            queue_window_removal(session, running, now)
        until = now + timedelta(hours=hours)
        snooze = SnoozeRow(
            route=alert.route, channel=alert.channel, subject_key=alert.subject_key,
            alert_id=alert.id, rule_name=alert.rule_name, title=alert.title,
            slack_team=alert.slack_team, slack_channel=alert.slack_channel or "",
            until=until, created_by=clicker.user_id,
            created_by_name=clicker.user_name, created_at=now,
        )
        session.add(snooze)
        enqueue_parent_refresh(session, alert_id=alert.id, channel=alert.channel,
                               team_id=alert.slack_team, now=now, cause=CLICK_CAUSE)
        said = Announcement(Change.SNOOZED, clicker.user_id, clicker.user_name,
                            rule_name=alert.rule_name, title=alert.title, until=until)
        test_id = _test_id(alert) if upstream and _about_a_test(alert) else None
        if test_id is not None:
            queue_window(session, snooze, test_id, said, now)
            return SnoozeOutcome.RECORDED
        if upstream and _about_a_test(alert):
            snooze.te_state = SnoozeUpstream.NO_TEST.value
            said = replace(said, upstream=where_snoozed(snooze.te_state, None))
        announce(session, said, team_id=alert.slack_team,
                 channel_id=alert.slack_channel or "", now=now)
        return SnoozeOutcome.RECORDED


def _about_a_test(alert: AlertRow) -> bool:
    """An alert on a test (not on an agent or a device, which no window suppresses)."""
    data = alert.data if isinstance(alert.data, dict) else {}
    return AlertKind(alert.kind) is AlertKind.TEST and alert_subject(data) == "test"


def _test_id(alert: AlertRow) -> str | None:
    return id_text(alert.data.get("testId")) if isinstance(alert.data, dict) else None


def _running(session: Session, route: str, channel: str, subject_key: str,
             now: datetime) -> list[SnoozeRow]:
    return list(session.scalars(
        select(SnoozeRow).where(SnoozeRow.route == route, SnoozeRow.channel == channel,
                                SnoozeRow.subject_key == subject_key, SnoozeRow.until > now,
                                SnoozeRow.cancelled_at.is_(None))
        .order_by(SnoozeRow.until.desc())))


def snooze_shown_in(transaction: RawTransaction, route: str, channel: str, subject_key: str,
                    now: datetime) -> SnoozeShown | None:
    """The snooze running on the alert's rule and test, as its parent shows it (the one
    that runs longest), read in the caller's transaction."""
    shown = transaction.first(_LONGEST_RUNNING, dict(route=route, channel=channel,
                                                     subject_key=subject_key, now=now))
    if shown is None:
        return None
    return SnoozeShown(shown.until, shown.created_by_name or shown.created_by,
                       where_snoozed(shown.te_state, shown.te_detail))


def _longest_running_statement() -> Prepared:
    snoozes = SnoozeRow.__table__
    return Prepared(
        select(snoozes.c.until, snoozes.c.created_by, snoozes.c.created_by_name,
               snoozes.c.te_state, snoozes.c.te_detail)
        .where(snoozes.c.route == bindparam("route"), snoozes.c.channel == bindparam("channel"),
               snoozes.c.subject_key == bindparam("subject_key"),
               snoozes.c.until > bindparam("now", type_=UtcDateTime()),
               snoozes.c.cancelled_at.is_(None))
        .order_by(snoozes.c.until.desc()).limit(1))


# Read for every parent rendered (bot.store.alerts): compiled once (bot.db.prepared).
_LONGEST_RUNNING = _longest_running_statement()


def channel_snoozes(db: Database, team_id: str | None, channel_id: str,
                    now: datetime) -> list[SnoozeRow]:
    """The snoozes running in a Slack channel, the soonest to end first."""
    with db.session() as session:
        rows = session.scalars(
            select(SnoozeRow).where(SnoozeRow.slack_channel == channel_id,
                                    SnoozeRow.until > now, SnoozeRow.cancelled_at.is_(None))
            .order_by(SnoozeRow.until, SnoozeRow.id).limit(50))
        return [row for row in rows if _same_team(row.slack_team, team_id)]


def running_snooze(db: Database, team_id: str | None, channel_id: str, snooze_id: int,
                   now: datetime) -> SnoozeRow | None:
    """A running snooze of this channel; None for another channel's or workspace's, so
    that nothing is learnt about snoozes elsewhere."""
    with db.session() as session:
        row = session.scalar(_running_in_channel(channel_id, snooze_id, now))
        return row if row is not None and _same_team(row.slack_team, team_id) else None


def cancel_snooze(db: Database, team_id: str | None, channel_id: str, snooze_id: int,
                  now: datetime, *, actor_id: str, actor_name: str = "") -> SnoozeRow | None:
    """End a running snooze of this channel now, refresh the parent it was made from and
    announce it in the channel; None when the channel has no such snooze (any more)."""
    with db.session() as session:
        row = session.scalar(_running_in_channel(channel_id, snooze_id, now).with_for_update())
        if row is None or not _same_team(row.slack_team, team_id):
            return None
        row.cancelled_at = now
        enqueue_parent_refresh(session, alert_id=row.alert_id, channel=row.channel,
                               team_id=row.slack_team, now=now)
        said = Announcement(
            Change.SNOOZE_CANCELLED, actor_id, actor_name, rule_name=row.rule_name,
            title=row.title, snoozed_by_id=row.created_by,
            snoozed_by_name=row.created_by_name)
        # With a window in ThousandEyes, the announcement waits to say whether it went too.
        if not queue_window_removal(session, row, now, said):
            announce(session, said, team_id=row.slack_team, channel_id=row.slack_channel,
                     now=now)
        session.flush()
        session.expunge(row)
        return row


def _running_in_channel(channel_id: str, snooze_id: int, now: datetime) -> Select[tuple[SnoozeRow]]:
    return select(SnoozeRow).where(
        SnoozeRow.id == snooze_id, SnoozeRow.slack_channel == channel_id,
        SnoozeRow.until > now, SnoozeRow.cancelled_at.is_(None))


def _same_team(stored: str | None, asked: str | None) -> bool:
    return stored is None or asked is None or stored == asked
