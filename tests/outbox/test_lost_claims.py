"""A worker whose lease lapsed and whose job another worker took records nothing.

Neither the outcome, nor what the run produced (where its parent is, a handover to a
storm), nor its lane's next slot: the job belongs to the new holder, who will record its
own. Against a clock moved by hand, as in test_lanes.py.
"""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from bot.clock import utcnow
from bot.db.models import AlertRow, DeliveryLaneRow, JobRow
from bot.delivery.outcome import Done
from bot.outbox import leases, queue
from bot.outbox.queue import LaneAfter
from bot.store.alerts import record_parent_in
from bot.store.ingest import store_event
from bot.thousandeyes import parse_event
from tests.support.payloads import numbered_alert_event

LEASE = timedelta(seconds=30)
CHANNEL = "C0ALERTS"


def _lost_and_taken(database):
    """A trigger job claimed by worker A, whose lease lapsed, then claimed by worker B."""
    t0 = utcnow()
    payload = numbered_alert_event("trigger", 1, "lost", "test 1")
    store_event(database, parse_event(payload), route="default", channel=CHANNEL,
                body_text=json.dumps(payload), now=t0)
    lost = queue.claim_next(database, "host-a:1:x", t0, LEASE, 1.0).job
    assert lost is not None
    assert leases.expire_leases(database, t0 + timedelta(seconds=31)) == 1
    taken = queue.claim_next(database, "host-b:2:y", t0 + timedelta(seconds=31), LEASE, 1.0).job
    assert taken is not None and taken.id == lost.id
    return lost, taken, t0 + timedelta(seconds=32)


def _rows(database):
    with database.session() as session:
        return (session.execute(select(JobRow.status, JobRow.locked_by, JobRow.progress)).one(),
                session.execute(select(DeliveryLaneRow.held_by, DeliveryLaneRow.next_post_at,
                                       DeliveryLaneRow.channel_id)).one(),
                session.execute(select(AlertRow.slack_channel, AlertRow.slack_ts)).one())


def test_a_lost_claim_s_finish_records_neither_its_outcome_nor_its_parent_nor_its_lane(database):
    lost, taken, now = _lost_and_taken(database)
    before = _rows(database)
    lost.progress.settle()
    finished = queue.finish(
        database, lost, Done(), now,
        LaneAfter(next_post_at=now + timedelta(seconds=1), channel_id="C0FROMSLACK"),
        slack_ok=True,
        also=lambda transaction: record_parent_in(transaction, lost.alert_id, CHANNEL, "1.2"))
    assert not finished.recorded
    assert _rows(database) == before
    job, lane, parent = before
    assert (job.status, job.locked_by) == ("running", "host-b:2:y")
    assert lane.held_by == taken.hold_key and parent == (None, None)


def test_a_lost_claim_s_progress_and_what_came_with_it_are_not_saved(database):
    lost, _, now = _lost_and_taken(database)
    before = _rows(database)
    ran: list[bool] = []
    lost.progress.reply_ts = "1.3"
    assert not queue.save_progress(database, lost, now, also=lambda _: ran.append(True))
    assert ran == [] and _rows(database) == before
