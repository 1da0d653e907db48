"""Snoozes sent upstream: a snooze from Slack as a ThousandEyes alert suppression window.

A snooze hides alerts in Slack only; ThousandEyes keeps alerting everywhere else. With the
API link on, making a snooze of a test's rule queues a job (``SNOOZE_UPSTREAM``) that
creates a suppression window for that test, for the snooze's period; cancelling it
queues one that deletes the window. The jobs run in delivery, after Slack has had its
answer and outside any transaction (bot.delivery.snooze_upstream); this module is their
state changes, each in one short transaction:

- ``te_state`` of the snooze: NULL (Slack only: the link is off, or the alert is an
  agent's or a device's), ``no_test`` (a test alert whose webhook named no test id),
  ``pending`` until ThousandEyes answered, ``created`` (``te_window_id``), ``failed``
  (``te_detail`` says what ThousandEyes said);
- the channel's announcement of the change waits in the job's data until the job knows
  where the snooze holds, so it says so once ("snoozed in Slack and in ThousandEyes", or
  "in Slack only: ThousandEyes said …").
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.database import Database
from bot.db.models import JobKind, SnoozeRow
from bot.outbox.enqueue import enqueue, enqueue_parent_refresh
from bot.store.announcements import Announcement, announce

MAX_DETAIL = 300


class SnoozeUpstream(str, enum.Enum):
    PENDING = "pending"
    CREATED = "created"
    FAILED = "failed"
    NO_TEST = "no_test"  # the alert names no test (a Generic custom webhook sends none)


class UpstreamAction(str, enum.Enum):
    CREATE = "create"
    DELETE = "delete"


@dataclass(frozen=True)
class UpstreamJob:
    """A ``SNOOZE_UPSTREAM`` job's data: only references and names, never a token."""

    action: UpstreamAction
    snooze_id: int
    test_id: str = ""  # CREATE
    window_id: str = ""  # DELETE
    announcement: dict[str, Any] | None = None  # posted once the answer is known

    def to_data(self) -> dict[str, Any]:
        return {"action": self.action.value, "snooze_id": self.snooze_id,
                "test_id": self.test_id, "window_id": self.window_id,
                "announcement": self.announcement}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> UpstreamJob:
        """Inverse of :meth:`to_data`; raises ValueError for data it did not write."""
        announcement = data.get("announcement")
        return cls(UpstreamAction(data.get("action")), int(data["snooze_id"]),
                   str(data.get("test_id") or ""), str(data.get("window_id") or ""),
                   announcement if isinstance(announcement, dict) else None)


@dataclass(frozen=True)
class SnoozeToSend:
    """What creating the window needs, read before the call."""

    snooze_id: int
    test_id: str
    name: str
    start: datetime
    seconds: int


def where_snoozed(state: str | None, detail: str | None, verb: str = "snoozed") -> str:
    """Where a snooze holds, in the words the parent and the announcement use ("" while
    it holds in Slack only by design, or ThousandEyes has not answered yet)."""
    if state == SnoozeUpstream.CREATED:
        return f"{verb} in Slack and in ThousandEyes"
    if state == SnoozeUpstream.FAILED:
        return f"in Slack only: ThousandEyes said {detail or 'no'}"
    if state == SnoozeUpstream.NO_TEST:
        return "in Slack only: the alert names no ThousandEyes test to suppress"
    return ""


def queue_window(session: Session, snooze: SnoozeRow, test_id: str, announcement: Announcement,
                 now: datetime) -> None:
    """In the snooze's transaction: ask for its window, and hold its announcement."""
    snooze.te_state = SnoozeUpstream.PENDING.value
    session.flush()  # the snooze's id
    _enqueue(session, snooze, UpstreamJob(UpstreamAction.CREATE, snooze.id, test_id=test_id,
                                          announcement=announcement.to_data()), now)


def queue_window_removal(session: Session, snooze: SnoozeRow, now: datetime,
                         announcement: Announcement | None = None) -> bool:
    """In the transaction that ends ``snooze``: delete its window, if it has one; the
    announcement (if any) waits for the answer. False: no window, nothing queued."""
    if not snooze.te_window_id:
        return False
    _enqueue(session, snooze, UpstreamJob(
        UpstreamAction.DELETE, snooze.id, window_id=snooze.te_window_id,
        announcement=announcement.to_data() if announcement is not None else None), now)
    return True


def _enqueue(session: Session, snooze: SnoozeRow, job: UpstreamJob, now: datetime) -> None:
    enqueue(session, kind=JobKind.SNOOZE_UPSTREAM, alert_id=None,
            channel=snooze.slack_channel or "", team_id=snooze.slack_team, now=now,
            data=job.to_data())


def snooze_to_send(db: Database, job: UpstreamJob, now: datetime) -> SnoozeToSend | None:
    """The snooze a CREATE job is for, if it still runs and was not sent yet."""
    with db.session() as session:
        row = session.get(SnoozeRow, job.snooze_id)
        if row is None or row.cancelled_at is not None or row.until <= now or row.te_window_id:
            return None
        about = row.rule_name + (f" on {row.title}" if row.title else "")
        name = f"Snoozed in Slack by {row.created_by_name or row.created_by}: {about}"
        # From now (a start in the past may be refused) to the snooze's end, so both end
        # together; a job retried later makes a shorter window, never a longer one.
        return SnoozeToSend(row.id, job.test_id, name[:100], now,
                            max(60, math.ceil((row.until - now).total_seconds())))


def record_window(db: Database, job: UpstreamJob, window_id: str | None, detail: str,
                  now: datetime) -> bool:
    """What ThousandEyes answered to a CREATE (a window, or why not), then the parent's
    refresh and the held announcement. False when the snooze ended meanwhile: a window
    just made must then be deleted again."""
    with db.session() as session:
        row = session.scalar(select(SnoozeRow).where(SnoozeRow.id == job.snooze_id)
                             .with_for_update())
        if row is None:
            return False
        running = row.cancelled_at is None and row.until > now
        if window_id is not None:
            row.te_window_id = window_id
            row.te_state, row.te_detail = SnoozeUpstream.CREATED.value, None
        else:
            row.te_state, row.te_detail = SnoozeUpstream.FAILED.value, detail[:MAX_DETAIL]
        if running:
            enqueue_parent_refresh(session, alert_id=row.alert_id, channel=row.channel,
                                   team_id=row.slack_team, now=now)
        _announce(session, row, job, where_snoozed(row.te_state, row.te_detail), now)
        return running


def record_removal(db: Database, job: UpstreamJob, detail: str | None, now: datetime) -> None:
    """What ThousandEyes answered to a DELETE (``detail`` None: the window is gone), then
    the held announcement of the cancel."""
    with db.session() as session:
        row = session.scalar(select(SnoozeRow).where(SnoozeRow.id == job.snooze_id)
                             .with_for_update())
        if row is None:
            return
        if detail is None:
            row.te_window_id = None
            words = where_snoozed(SnoozeUpstream.CREATED, None, verb="cancelled")
        else:
            row.te_detail = detail[:MAX_DETAIL]
            words = where_snoozed(SnoozeUpstream.FAILED, detail)
        _announce(session, row, job, words, now)


def _announce(session: Session, row: SnoozeRow, job: UpstreamJob, words: str,
              now: datetime) -> None:
    if job.announcement is None:
        return
    said = Announcement.from_data({**job.announcement, "upstream": words})
    announce(session, said, team_id=row.slack_team, channel_id=row.slack_channel or "",
             now=now)
