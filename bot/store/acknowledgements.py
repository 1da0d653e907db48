"""Recording who is responding to an alert, and queueing the messages that show it.

The click only tells us *which* alert; everything else is checked against the database
under the alert row's lock, so an acknowledge racing a clear is serialised with it: it
either lands before the clear (and the cleared parent lists the responder) or sees the
alert cleared and changes nothing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from bot.clock import utcnow
from bot.db.database import Database
from bot.db.models import AcknowledgementRow, AlertRow, AlertState, JobKind, StormRow
from bot.outbox.enqueue import CLICK_CAUSE, enqueue, enqueue_parent_refresh
from bot.render.view import Responder
from bot.store.storm_notes import AckNote, StormNotes, add_notes


class AckOutcome(str, enum.Enum):
    RECORDED = "recorded"
    UNCHANGED = "unchanged"  # already acknowledged / not acknowledged by this user
    UNKNOWN_ALERT = "unknown_alert"
    FOREIGN = "foreign"  # the click came from another channel or workspace
    CLEARED = "cleared"


@dataclass(frozen=True)
class AckResult:
    outcome: AckOutcome
    cleared_at: datetime | None = None


@dataclass(frozen=True)
class Clicker:
    user_id: str
    user_name: str
    team_id: str | None
    channel_id: str | None


@dataclass(frozen=True)
class AckNoteArgs:
    """The arguments of an acknowledgement note job: who did what, when."""

    responder: Responder
    acknowledged: bool  # False: took it back
    # "Acknowledge all" on a storm roll-up, queued by a version before storm notes
    # (bot.store.storm_notes): how many it acknowledged.
    alerts: int = 0

    def to_data(self) -> dict[str, object]:
        data: dict[str, object] = {
            "user_id": self.responder.user_id, "user_name": self.responder.user_name,
            "acknowledged": self.acknowledged, "at": self.responder.acknowledged_at.isoformat()}
        if self.alerts:
            data["alerts"] = self.alerts
        return data

    @classmethod
    def from_data(cls, data: dict[str, object]) -> AckNoteArgs:
        at = data.get("at")
        try:
            when = datetime.fromisoformat(at) if isinstance(at, str) else utcnow()
        except ValueError:
            when = utcnow()
        alerts = data.get("alerts")
        return cls(Responder(str(data.get("user_id", "")), str(data.get("user_name", "")), when),
                   bool(data.get("acknowledged")), alerts if isinstance(alerts, int) else 0)


def set_acknowledgement(
    db: Database, alert_id: int, clicker: Clicker, acknowledged: bool, now: datetime,
    default_channel: str = "",
) -> AckResult:
    """Acknowledge (or withdraw) for one user, idempotently, and queue the refresh and
    thread note in the same transaction (the refresh merged into one still pending).
    ``default_channel`` (SLACK_CHANNEL) chooses the note's delivery lane, as for the
    alert's other jobs."""
    with db.session() as session:
        alert = session.scalar(select(AlertRow).where(AlertRow.id == alert_id).with_for_update())
        if alert is None:
            return AckResult(AckOutcome.UNKNOWN_ALERT)
        if not same_place(alert, clicker):
            return AckResult(AckOutcome.FOREIGN)
        if alert.state == AlertState.CLEARED:
            return AckResult(AckOutcome.CLEARED, alert.cleared_at)
        active = session.scalar(
            select(AcknowledgementRow).where(
                AcknowledgementRow.alert_id == alert_id,
                AcknowledgementRow.user_id == clicker.user_id,
                AcknowledgementRow.withdrawn_at.is_(None),
            )
        )
        if acknowledged == (active is not None):
            return AckResult(AckOutcome.UNCHANGED)
        if acknowledged:
            session.add(AcknowledgementRow(
                alert_id=alert_id, user_id=clicker.user_id, user_name=clicker.user_name,
                team_id=clicker.team_id, acknowledged_at=now,
            ))
            if alert.first_acknowledged_at is None:
                alert.first_acknowledged_at = now
        else:
            assert active is not None
            active.withdrawn_at = now
        enqueue_parent_refresh(session, alert_id=alert_id, channel=alert.channel,
                               team_id=alert.slack_team, now=now, cause=CLICK_CAUSE)
        if alert.storm_id is not None:
            # "Acknowledge one" on a roll-up: told with the storm's other news.
            add_notes(session, alert.storm_id, StormNotes(acks=(AckNote(
                clicker.user_id, clicker.user_name, (alert_id,), acknowledged),)), now,
                default_channel)
        else:
            enqueue(session, kind=JobKind.ACK_NOTE, alert_id=alert_id, channel=alert.channel,
                    team_id=alert.slack_team, now=now, default_channel=default_channel,
                    data=AckNoteArgs(Responder(clicker.user_id, clicker.user_name, now),
                                     acknowledged).to_data())
        return AckResult(AckOutcome.RECORDED)


def acknowledge_storm(db: Database, storm_id: int, clicker: Clicker, now: datetime,
                      default_channel: str = "") -> tuple[AckOutcome, int]:
    """"Acknowledge all" on a roll-up: every open alert of the storm this user does not
    acknowledge yet, under the alerts' row locks; one refresh, and one line in the
    storm's next thread note."""
    with db.session() as session:
        storm = session.scalar(select(StormRow).where(StormRow.id == storm_id).with_for_update())
        if storm is None:
            return AckOutcome.UNKNOWN_ALERT, 0
        alerts = list(session.scalars(
            select(AlertRow).where(AlertRow.storm_id == storm_id,
                                   AlertRow.state == AlertState.TRIGGERED)
            .order_by(AlertRow.id).with_for_update()))
        anchor = session.get(AlertRow, storm.anchor_alert_id)
        if anchor is None or not same_place(anchor, clicker):
            return AckOutcome.FOREIGN, 0
        if not alerts:
            return AckOutcome.CLEARED, 0
        already = set(session.scalars(
            select(AcknowledgementRow.alert_id).where(
                AcknowledgementRow.alert_id.in_([a.id for a in alerts]),
                AcknowledgementRow.user_id == clicker.user_id,
                AcknowledgementRow.withdrawn_at.is_(None))))
        added = [alert for alert in alerts if alert.id not in already]
        for alert in added:
            session.add(AcknowledgementRow(
                alert_id=alert.id, user_id=clicker.user_id, user_name=clicker.user_name,
                team_id=clicker.team_id, acknowledged_at=now))
            if alert.first_acknowledged_at is None:
                alert.first_acknowledged_at = now
        if not added:
            return AckOutcome.UNCHANGED, 0
        enqueue_parent_refresh(session, alert_id=anchor.id, channel=anchor.channel,
                               team_id=anchor.slack_team, now=now, cause=CLICK_CAUSE)
        add_notes(session, storm_id, StormNotes(acks=(AckNote(
            clicker.user_id, clicker.user_name, tuple(alert.id for alert in added),
            all_open=True),)), now, default_channel)
        return AckOutcome.RECORDED, len(added)


def same_place(alert: AlertRow, clicker: Clicker) -> bool:
    """The click came from the channel (and workspace) the alert's parent is in."""
    if alert.slack_channel is None or alert.slack_channel != clicker.channel_id:
        return False
    return alert.slack_team is None or clicker.team_id is None or alert.slack_team == clicker.team_id
