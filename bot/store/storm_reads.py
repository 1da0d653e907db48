"""Reading a storm's alerts for one of its messages: no more of them than it shows.

A storm may hold thousands of alerts, and reading one back into a view (parsing its
stored payload) is most of what a message of the storm costs. So each read is bounded by
its message, not by the storm: a thread page reads its ``PAGE_ENTRIES`` alerts by their
place in the list (a range of ix_alerts_storm_order), a long roll-up counts in the
database and reads only the open alerts its menu offers, a thread note reads the alerts
it names, a reminder only counts. The list's order is (first_seen_at, id) everywhere.

A refresh decides which pages may have changed from their signatures: a few columns of
each alert and its acknowledgements, read without parsing anything (bot.delivery.storm_jobs
keeps each page's signature beside what the page shows).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, Select, case, exists, func, select
from sqlalchemy.orm import Session

from bot.db.database import Database
from bot.db.models import AcknowledgementRow, AlertRow, AlertState, StormRow
from bot.render.buttons import MENU_OPTIONS
from bot.render.context_types import StormChoice
from bot.render.rollup import (
    PAGE_ENTRIES,
    RuleTally,
    StormTally,
    choice_of,
    page_count,
    stored_choice,
)
from bot.render.view import AlertView, DisplayState
from bot.store.alerts import build_view
from bot.store.storms import Storm, as_storm
from bot.thousandeyes import ParseOptions

_ALERTS = AlertRow.__table__
_ACKS = AcknowledgementRow.__table__
_LIST_ORDER = (_ALERTS.c.first_seen_at, _ALERTS.c.id)
_IDS_PER_QUERY = 500  # well under any driver's limit of bound parameters
# An alert as a page's signature sees it, and an acknowledgement standing on it.
_Listed = tuple[int, str, datetime]
_Standing = tuple[int, str, str | None]


@dataclass(frozen=True)
class StormMembers:
    storm: Storm
    views: list[AlertView]  # in list order
    ids: list[int] = field(default_factory=list)  # the alert of each view

    def views_of(self, alert_ids: tuple[int, ...] | list[int]) -> list[AlertView]:
        """The views of these alerts, in that order (each once; unknown ones left out)."""
        by_id = dict(zip(self.ids, self.views, strict=False))
        return [by_id[i] for i in dict.fromkeys(alert_ids) if i in by_id]


@dataclass(frozen=True)
class StormPage:
    storm: Storm
    total: int  # alerts in the storm
    views: list[AlertView]  # the page's, in list order
    signature: str  # of what the page lists (see page_signatures)


@dataclass(frozen=True)
class RollupSource:
    """What the roll-up shows, read in one transaction with the storm's version."""

    storm: Storm
    views: list[AlertView]  # every alert, when the roll-up lists them all
    tally: StormTally | None = None  # else (a long storm) its counts and first open alerts


def load_members(db: Database, storm_id: int, options: ParseOptions,
                 only: Collection[int] | None = None) -> StormMembers:
    """The storm and its alerts (``only`` these, when given), read in one transaction
    (the version tells a later join apart from what this read saw)."""
    with db.session() as session:
        storm = _storm(session, storm_id)
        if only is None:
            rows = list(session.scalars(_members(storm_id).order_by(*_LIST_ORDER)))
        else:
            rows = sorted((row for ids in _batches(only)
                           for row in session.scalars(
                               _members(storm_id).where(_ALERTS.c.id.in_(ids)))),
                          key=lambda row: (row.first_seen_at, row.id))
        return StormMembers(storm, _views(session, rows, options), [row.id for row in rows])


def page_ids_statement(storm_id: int, page: int) -> Select[tuple[int]]:
    """The alerts of thread page ``page``: a range of ix_alerts_storm_order, in order."""
    return (select(_ALERTS.c.id).where(_ALERTS.c.storm_id == storm_id).order_by(*_LIST_ORDER)
            .offset(page * PAGE_ENTRIES).limit(PAGE_ENTRIES))


def load_page(db: Database, storm_id: int, page: int, options: ParseOptions) -> StormPage:
    """Thread page ``page`` (0-based): its alerts and how many the storm has."""
    with db.session() as session:
        storm = _storm(session, storm_id)
        total = _count(session, storm_id)
        ids = list(session.scalars(page_ids_statement(storm_id, page)))
        place = {alert_id: number for number, alert_id in enumerate(ids)}
        rows = sorted(session.scalars(_members(storm_id).where(_ALERTS.c.id.in_(ids))),
                      key=lambda row: place[row.id]) if ids else []
        acks = _acknowledgements(session, [row.id for row in rows])
        views = [build_view(row, acks.get(row.id, []), options=options) for row in rows]
        signature = _signature(total, [(row.id, row.state, row.last_event_at) for row in rows],
                               {alert_id: [(a.id, a.user_id, a.user_name) for a in found]
                                for alert_id, found in acks.items()})
        return StormPage(storm, total, views, signature)


def load_rollup(db: Database, storm_id: int, options: ParseOptions) -> RollupSource:
    """What the roll-up shows: every alert of a storm it lists in full; for a long one,
    counts per rule and state, and the first ``MENU_OPTIONS`` open alerts."""
    with db.session() as session:
        storm = _storm(session, storm_id)
        if not page_count(_count(session, storm_id)):
            rows = list(session.scalars(_members(storm_id).order_by(*_LIST_ORDER)))
            return RollupSource(storm, _views(session, rows, options))
        tally = StormTally(_rule_tallies(session, storm_id),
                           _open_choices(session, storm_id, options))
        return RollupSource(storm, [], tally)


def count_waiting(db: Database, storm_id: int) -> int:
    """The storm's alerts that nobody acknowledges and that have not cleared."""
    with db.session() as session:
        return session.scalar(
            select(func.count()).select_from(_ALERTS)
            .where(_ALERTS.c.storm_id == storm_id, _ALERTS.c.state == AlertState.TRIGGERED,
                   ~_acknowledged())) or 0


def acknowledged_by(db: Database, storm_id: int, user_id: str) -> list[int]:
    """The storm's alerts this user acknowledges now."""
    with db.session() as session:
        return list(session.scalars(
            select(_ALERTS.c.id).join(_ACKS, _ACKS.c.alert_id == _ALERTS.c.id)
            .where(_ALERTS.c.storm_id == storm_id, _ACKS.c.user_id == user_id,
                   _ACKS.c.withdrawn_at.is_(None)).distinct()))


def page_signatures(db: Database, storm_id: int) -> dict[int, str]:
    """Each thread page's signature: what its alerts are (their order, state and last
    event, who acknowledges them) and the storm's size, read without parsing any alert.
    A page whose signature is the one it was last shown with cannot show anything new."""
    with db.session() as session:
        members: list[_Listed] = [(row.id, row.state, row.last_event_at) for row in session.execute(
            select(_ALERTS.c.id, _ALERTS.c.state, _ALERTS.c.last_event_at)
            .where(_ALERTS.c.storm_id == storm_id).order_by(*_LIST_ORDER))]
        acks: dict[int, list[_Standing]] = {}
        for alert_id, ack_id, user_id, user_name in session.execute(
                select(_ACKS.c.alert_id, _ACKS.c.id, _ACKS.c.user_id, _ACKS.c.user_name)
                .join(_ALERTS, _ALERTS.c.id == _ACKS.c.alert_id)
                .where(_ALERTS.c.storm_id == storm_id, _ACKS.c.withdrawn_at.is_(None))
                .order_by(_ACKS.c.acknowledged_at, _ACKS.c.id)):
            acks.setdefault(alert_id, []).append((ack_id, user_id, user_name))
    total = len(members)
    return {page: _signature(total, members[page * PAGE_ENTRIES:(page + 1) * PAGE_ENTRIES], acks)
            for page in range(page_count(total))}


def _signature(total: int, members: Sequence[_Listed], acks: dict[int, list[_Standing]]) -> str:
    # Every column an entry of the page is rendered from changes with one of these: a
    # webhook's event sets last_event_at with the payload; a click adds or withdraws an
    # acknowledgement; a join changes the total (and the page's alerts).
    text = repr((total, [(*member, acks.get(member[0], [])) for member in members]))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _storm(session: Session, storm_id: int) -> Storm:
    row = session.get(StormRow, storm_id)
    if row is None:
        raise LookupError(f"storm {storm_id} does not exist")
    return as_storm(row)


def _members(storm_id: int) -> Select[tuple[AlertRow]]:
    return select(AlertRow).where(AlertRow.storm_id == storm_id)


def _count(session: Session, storm_id: int) -> int:
    return session.scalar(select(func.count()).select_from(_ALERTS)
                          .where(_ALERTS.c.storm_id == storm_id)) or 0


def _acknowledged() -> ColumnElement[bool]:
    """Someone acknowledges the alert (of the enclosing query) now."""
    return exists().where(_ACKS.c.alert_id == _ALERTS.c.id, _ACKS.c.withdrawn_at.is_(None))


def _rule_tallies(session: Session, storm_id: int) -> tuple[RuleTally, ...]:
    """Each rule's alerts by display state (as bot.store.alerts.build_view decides it),
    rules in the order of their first alert in the list."""
    listed = select(
        _ALERTS.c.rule_name,
        case((_ALERTS.c.state == AlertState.CLEARED, DisplayState.CLEARED.value),
             (_acknowledged(), DisplayState.ACKNOWLEDGED.value),
             else_=DisplayState.TRIGGERED.value).label("shown"),
        func.row_number().over(order_by=_LIST_ORDER).label("place"),
    ).where(_ALERTS.c.storm_id == storm_id).subquery()
    counts: dict[str, dict[str, int]] = {}
    first: dict[str, int] = {}
    for rule, shown, count, place in session.execute(
            select(listed.c.rule_name, listed.c.shown, func.count(), func.min(listed.c.place))
            .group_by(listed.c.rule_name, listed.c.shown)):
        counts.setdefault(rule, {})[shown] = count
        first[rule] = min(place, first.get(rule, place))
    return tuple(RuleTally(rule, counts[rule].get(DisplayState.TRIGGERED.value, 0),
                           counts[rule].get(DisplayState.ACKNOWLEDGED.value, 0),
                           counts[rule].get(DisplayState.CLEARED.value, 0))
                 for rule in sorted(counts, key=first.__getitem__))


def _open_choices(session: Session, storm_id: int,
                  options: ParseOptions) -> tuple[StormChoice, ...]:
    """The first open alerts as the roll-up's menu offers them: from their columns, but
    an alert stored without a test or agent name is read (its title comes from more)."""
    rows = session.execute(
        select(_ALERTS.c.id, _ALERTS.c.title, _ALERTS.c.rule_name)
        .where(_ALERTS.c.storm_id == storm_id, _ALERTS.c.state == AlertState.TRIGGERED)
        .order_by(*_LIST_ORDER).limit(MENU_OPTIONS)).all()
    untitled = [row.id for row in rows if not row.title]
    read: dict[int, StormChoice] = {}
    if untitled:
        found = list(session.scalars(_members(storm_id).where(_ALERTS.c.id.in_(untitled))))
        read = {row.id: choice_of(view)
                for row, view in zip(found, _views(session, found, options), strict=True)}
    return tuple(read[row.id] if row.id in read else stored_choice(row.id, row.title, row.rule_name)
                 for row in rows)


def _acknowledgements(session: Session,
                      alert_ids: Collection[int]) -> dict[int, list[AcknowledgementRow]]:
    """The acknowledgements standing on these alerts, oldest first."""
    found: dict[int, list[AcknowledgementRow]] = {}
    for ids in _batches(alert_ids):
        for ack in session.scalars(
                select(AcknowledgementRow)
                .where(AcknowledgementRow.alert_id.in_(ids),
                       AcknowledgementRow.withdrawn_at.is_(None))
                .order_by(AcknowledgementRow.acknowledged_at, AcknowledgementRow.id)):
            found.setdefault(ack.alert_id, []).append(ack)
    return found


def _batches(alert_ids: Collection[int]) -> Iterator[list[int]]:
    ids = list(alert_ids)
    for start in range(0, len(ids), _IDS_PER_QUERY):
        yield ids[start:start + _IDS_PER_QUERY]


def _views(session: Session, rows: list[AlertRow], options: ParseOptions) -> list[AlertView]:
    acks = _acknowledgements(session, [row.id for row in rows])
    return [build_view(row, acks.get(row.id, []), options=options) for row in rows]
