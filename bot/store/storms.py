"""Storm roll-ups: when a channel gets more new alerts than it can show promptly, one
parent message stands for all of them.

Slack shows about one post per second per channel, so 60 alerts posted one by one take a
minute and bury the channel. Instead the first trigger job that finds the channel's lane
over the threshold opens a storm, takes in every alert waiting in the lane, and posts one
roll-up; alerts arriving while the storm is open join it, until the lane has been quiet
for ``storm_quiet``.

Durable and exactly once across processes: a storm is opened by inserting a row whose
``open_lane`` is unique (one open storm per lane, whoever inserts first), alerts join it
under the storm row's lock, and only the jobs of the storm's anchor alert post or update
the roll-up, so its Slack calls run in order like any alert's (``bot.outbox.queue``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, func, insert, literal, select, union, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.clock import utcnow
from bot.db.database import Database
from bot.db.models import (
    AlertRow,
    AlertState,
    JobKind,
    JobRow,
    JobStatus,
    StormRow,
)
from bot.outbox.enqueue import enqueue_parent_refresh, job_values, mark_lane_ready
from bot.render.rollup import page_count

log = logging.getLogger(__name__)

_ALERTS = AlertRow.__table__


@dataclass(frozen=True)
class StormSettings:
    threshold: int  # more waiting alerts than this open a storm
    window: timedelta  # ... or more than this many first seen within the window
    quiet: timedelta  # an open storm ends after this long without a new alert


@dataclass(frozen=True)
class Storm:
    """What delivery needs to know of an alert's storm."""

    id: int
    anchor_alert_id: int
    slack_channel: str | None
    slack_ts: str | None
    version: int
    rendered_version: int
    pages: tuple[str, ...] = ()
    # What each message shows now, and what each page was rendered from
    # (bot.db.models.StormRow.shown).
    shown: dict[str, str] = field(default_factory=dict)


ROLLUP_MESSAGE = "rollup"


def page_message(page: int) -> str:
    """The key of thread page ``page`` (0-based) in ``Storm.shown``."""
    return f"page-{page}"


def page_source(page: int) -> str:
    """The key in ``Storm.shown`` of what thread page ``page`` was last rendered from (a
    signature: bot.store.storm_reads.page_signatures): a refresh that finds the same
    renders nothing."""
    return f"page-{page}:source"


def rollup_candidates(lane: str) -> Select[tuple[int]]:
    """The alerts that count towards a storm in ``lane`` and may be rolled up into it.

    The one place that says so: triggered alerts with no parent message yet, in no
    storm, whose trigger job waits (pending) in the lane. A trigger job that is running
    decides for its own alert (see :func:`place_alert`), so no alert is rolled up while
    another worker may be posting it on its own. Alerts adopted into an earlier alert's
    thread (flapping, snoozed: bot.store.adoption) reply there and never roll up.
    """
    return (
        select(AlertRow.id)
        .join(JobRow, JobRow.alert_id == AlertRow.id)
        .where(JobRow.lane == lane, JobRow.kind == JobKind.ALERT_TRIGGER,
               JobRow.status == JobStatus.PENDING,
               AlertRow.state == AlertState.TRIGGERED, AlertRow.slack_ts.is_(None),
               AlertRow.storm_id.is_(None), AlertRow.thread_alert_id.is_(None))
        .distinct()
    )


def _has_open_alerts(session: Session, storm_id: int) -> bool:
    return session.scalar(select(AlertRow.id).where(
        AlertRow.storm_id == storm_id, AlertRow.state == AlertState.TRIGGERED).limit(1)) is not None


def _recent_singles(session: Session, lane: str, since: datetime) -> int:
    """Alerts of the lane posted on their own whose trigger job was queued since ``since``."""
    return session.scalar(
        select(func.count(func.distinct(AlertRow.id)))
        .join(JobRow, JobRow.alert_id == AlertRow.id)
        .where(JobRow.lane == lane, JobRow.kind == JobKind.ALERT_TRIGGER,
               JobRow.created_at >= since, AlertRow.slack_ts.is_not(None),
               AlertRow.storm_id.is_(None), AlertRow.thread_alert_id.is_(None))
    ) or 0


def place_alert(db: Database, alert_id: int, lane: str, now: datetime,
                settings: StormSettings) -> Storm | None:
    """Decide, for an alert whose trigger job runs now, whether it goes into a storm.

    Returns the storm it is in (opening one, or joining the lane's open one, together
    with every other alert waiting in the lane), or None when it is posted on its own.
    """
    for _ in range(3):
        try:
            with db.session() as session:
                return _place(session, alert_id, lane, now, settings)
        except IntegrityError:
            # Another process opened the lane's storm at the same moment: join that one.
            log.info("alert %d: another worker opened the storm of %s; joining it", alert_id, lane)
    raise RuntimeError(f"could not place alert {alert_id} in a storm of {lane}")


def _place(session: Session, alert_id: int, lane: str, now: datetime,
           settings: StormSettings) -> Storm | None:
    alert = session.scalar(select(AlertRow).where(AlertRow.id == alert_id).with_for_update())
    if alert is None:
        return None
    if alert.storm_id is not None:
        joined = session.get(StormRow, alert.storm_id)
        return as_storm(joined) if joined is not None else None
    if alert.slack_ts or alert.thread_alert_id is not None:
        return None  # it has its own parent already, or replies in an earlier alert's thread
    storm = session.scalar(select(StormRow).where(StormRow.open_lane == lane).with_for_update())
    # Quiet is counted between arrivals, not between the trigger jobs that place them:
    # those wait their turn in a channel that posts once a second.
    arrived = alert.last_event_at
    if storm is not None and (arrived - storm.last_joined_at > settings.quiet
                              or not _has_open_alerts(session, storm.id)):
        # Quiet long enough, or every alert of it cleared: a new alert is news of its
        # own, not a line in a roll-up that says the outage is over.
        log.info("storm %d of %s is over (its last alert arrived %s)", storm.id, lane,
                 storm.last_joined_at)
        storm.open_lane, storm.closed_at = None, now
        session.flush()
        storm = None
    # The alert and the others waiting in the lane: counted and joined in the database
    # (a lane may hold thousands), in this transaction. One IN of a UNION, not an OR:
    # PostgreSQL would scan the whole table for ``id = ? OR id IN (...)``.
    joining = _ALERTS.c.id.in_(union(select(literal(alert_id, _ALERTS.c.id.type)),
                                     rollup_candidates(lane)))
    if storm is None:
        count = session.scalar(select(func.count()).select_from(_ALERTS).where(joining)) or 0
        # Alerts posted on their own lately count too, when the waiting ones are not
        # enough by themselves (counting those reads the lane's recent jobs).
        if count <= settings.threshold and count + (
                _recent_singles(session, lane, now - settings.window)
                if settings.window else 0) <= settings.threshold:
            return None
        storm = StormRow(lane=lane, open_lane=lane, anchor_alert_id=alert_id, opened_at=now,
                         last_joined_at=arrived, version=0, rendered_version=0, pages=[])
        session.add(storm)
        session.flush()  # the unique open_lane: raises IntegrityError if one was opened
        log.info("storm %d opened in %s with %d alerts", storm.id, lane, count)
    _join(session, storm, joining, now)
    return as_storm(storm)


def _join(session: Session, storm: StormRow, joining: ColumnElement[bool],
          now: datetime) -> None:
    """Put the alerts ``joining`` selects into the storm; once the roll-up is posted, they
    thread under it and the roll-up is refreshed to list them."""
    values: dict[str, object] = {"storm_id": storm.id}
    if storm.slack_ts:
        values.update(slack_channel=storm.slack_channel, slack_ts=storm.slack_ts)
    joinable = (joining, _ALERTS.c.storm_id.is_(None))
    latest = session.scalar(select(func.max(_ALERTS.c.last_event_at)).where(*joinable))
    if latest is not None:
        # Only alerts that arrived by then: one committed since (PostgreSQL) joins with
        # its own trigger job, so the storm's last arrival is exactly the latest joined.
        session.execute(update(_ALERTS).where(*joinable, _ALERTS.c.last_event_at <= latest)
                        .values(**values))
    storm.version += 1
    storm.last_joined_at = max(storm.last_joined_at, latest or now)
    if storm.slack_ts:
        refresh_rollup(session, storm, now)


def refresh_rollup(session: Session, storm: StormRow, now: datetime) -> None:
    """Queue a re-render of the roll-up: a refresh of its anchor alert (merged into one
    that is waiting), so roll-up updates never overtake each other."""
    anchor = session.get(AlertRow, storm.anchor_alert_id)
    assert anchor is not None
    enqueue_parent_refresh(session, alert_id=anchor.id, channel=anchor.channel,
                           team_id=anchor.slack_team, now=now)


def queue_rollup_refresh(db: Database, storm_id: int, now: datetime) -> None:
    with db.session() as session:
        storm = session.get(StormRow, storm_id)
        if storm is not None:
            refresh_rollup(session, storm, now)


def leave_storm(db: Database, alert_id: int, now: datetime) -> None:
    """Take an alert out of its storm: one found posted on its own (an earlier attempt's
    post whose answer was lost) after the storm had taken it in as one still waiting.
    The roll-up is refreshed so that it no longer lists it."""
    with db.session() as session:
        alert = session.scalar(select(AlertRow).where(AlertRow.id == alert_id).with_for_update())
        if alert is None or alert.storm_id is None:
            return
        storm = _lock_storm(session, alert.storm_id)
        alert.storm_id = None
        if storm is None:
            return
        if storm.slack_ts is not None and alert.slack_ts == storm.slack_ts:
            alert.slack_channel, alert.slack_ts = None, None  # it threaded under the roll-up
        storm.version += 1
        refresh_rollup(session, storm, now)
        log.info("alert %d: posted on its own before storm %d took it in; out of the storm",
                 alert_id, storm.id)


def load_storm(db: Database, storm_id: int) -> Storm | None:
    with db.session() as session:
        row = session.get(StormRow, storm_id)
        return as_storm(row) if row is not None else None


def record_rollup(db: Database, storm_id: int, channel: str, ts: str, rendered_version: int,
                  now: datetime, default_channel: str = "", fingerprint: str | None = None) -> None:
    """The roll-up is posted (showing ``fingerprint``, when known): its members thread
    under it, and a join that came after the render is shown by a refresh."""
    with db.session() as session:
        storm = _lock_storm(session, storm_id)
        assert storm is not None
        if storm.slack_ts is None:
            storm.slack_channel, storm.slack_ts = channel, ts
            if fingerprint:
                storm.shown = dict(storm.shown or {}, **{ROLLUP_MESSAGE: fingerprint})
        alerts = AlertRow.__table__
        session.execute(update(alerts).where(alerts.c.storm_id == storm_id,
                                             alerts.c.slack_ts.is_(None))
                        .values(slack_channel=storm.slack_channel, slack_ts=storm.slack_ts))
        _rendered(session, storm, rendered_version, now, default_channel)


def record_rendered(db: Database, storm_id: int, rendered_version: int,
                    default_channel: str = "") -> None:
    """The roll-up was updated showing ``rendered_version``."""
    with db.session() as session:
        storm = _lock_storm(session, storm_id)
        if storm is not None:
            _rendered(session, storm, rendered_version, utcnow(), default_channel)


def _rendered(session: Session, storm: StormRow, version: int, now: datetime,
              default_channel: str) -> None:
    storm.rendered_version = max(storm.rendered_version, version)
    if storm.version > storm.rendered_version:
        refresh_rollup(session, storm, now)
    # A list longer than the parent holds goes into thread pages, each posted once by a
    # job of the anchor ('' marks a page queued but not posted yet).
    total = session.scalar(select(func.count()).select_from(AlertRow)
                           .where(AlertRow.storm_id == storm.id)) or 0
    pages = list(storm.pages or [])
    if len(pages) < page_count(total):
        anchor = session.get(AlertRow, storm.anchor_alert_id)
        assert anchor is not None
        jobs = [job_values(kind=JobKind.STORM_PAGE, alert_id=anchor.id, channel=anchor.channel,
                           team_id=anchor.slack_team, now=now, data={"page": page},
                           default_channel=default_channel)
                for page in range(len(pages), page_count(total))]
        # One statement for them all (a storm of thousands has dozens), in page order:
        # jobs of one alert run in the order they were queued.
        session.execute(insert(JobRow.__table__), jobs)
        mark_lane_ready(session.connection(), jobs[0])
        storm.pages = pages + [""] * len(jobs)


def record_page(db: Database, storm_id: int, page: int, ts: str,
                fingerprint: str | None = None, source: str | None = None) -> None:
    """Thread page ``page`` is posted (showing ``fingerprint``, rendered from ``source``,
    when known)."""
    with db.session() as session:
        storm = _lock_storm(session, storm_id)
        if storm is None:
            return
        pages = list(storm.pages or [])
        pages += [""] * (page + 1 - len(pages))
        if not pages[page]:
            pages[page] = ts
            if fingerprint:
                shown = {page_message(page): fingerprint}
                if source:
                    shown[page_source(page)] = source
                storm.shown = dict(storm.shown or {}, **shown)
        storm.pages = pages


def record_shown(db: Database, storm_id: int, shown: Mapping[str, str]) -> None:
    """Messages of the storm (``ROLLUP_MESSAGE``, a ``page_message``) were updated to
    show a fingerprint, a page rendered from a ``page_source``: a refresh that would send
    the same skips it."""
    with db.session() as session:
        storm = _lock_storm(session, storm_id)
        if storm is not None:
            storm.shown = dict(storm.shown or {}, **shown)


def _lock_storm(session: Session, storm_id: int) -> StormRow | None:
    return session.scalar(select(StormRow).where(StormRow.id == storm_id).with_for_update())


def as_storm(row: StormRow) -> Storm:
    """What delivery needs to know of a storm row (a snapshot, outside its session)."""
    return Storm(row.id, row.anchor_alert_id, row.slack_channel, row.slack_ts, row.version,
                 row.rendered_version, tuple(row.pages or ()), dict(row.shown or {}))
