"""News first: in a channel, a new alert's parent is posted before the thread notes and
refreshes waiting there, and an alert's own messages keep their order.

The channel's one post per second is the physical limit: every post spent on old news is
taken from the next alert. A test holds the channel's next post slot (as a storm of posts
would), queues old news and new alerts behind it, then lets the channel go.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.clock import utcnow
from bot.db.models import AlertRow, JobKind
from bot.outbox import queue
from bot.outbox.enqueue import enqueue
from bot.outbox.kinds import lane_of
from bot.render.actions import ACKNOWLEDGE, encode_alert_ref
from bot.store.alerts import record_parent
from bot.store.ingest import store_event
from bot.store.routes import DEFAULT_ROUTE
from bot.thousandeyes import parse_event
from tests.support.delivery import drain, hold_lanes, release_lanes, send, serving
from tests.support.payloads import numbered_alert_event
from tests.support.slack_requests import click

CHANNEL = "C0ALERTS"


def name_of(number: int) -> str:
    return f"news-test-{number:02d}"


def alert(transition: str, number: int, test: int | None = None) -> dict:
    """Alert ``number`` on a test of its own (``test``: the test of another alert, so the
    new alert threads under that one's parent as flapping)."""
    return numbered_alert_event(transition, number, "news", name_of(test or number),
                                testId=9000 + (test or number))


def body(message) -> str:
    return message.text + json.dumps(message.blocks, ensure_ascii=False)


def _is(message, number: int, parent: bool) -> bool:
    return name_of(number) in body(message) and (message.thread_ts is None) == parent


@pytest.fixture
def news_config(slack_config):
    # FLAP_WINDOW on: a new alert of the rule on a test whose alert just cleared threads
    # under that alert's parent, and its jobs wait for that alert's.
    return replace(slack_config, flap_window=timedelta(minutes=10))


def test_new_alerts_are_posted_before_old_news_and_each_alert_keeps_its_order(
        news_config, fake_slack):
    with serving(news_config) as (server, worker):
        for number in (1, 2, 3):
            send(server, alert("trigger", number))
        drain(worker)
        parents = {n: m for n in (1, 2, 3) for m in fake_slack.top_level(CHANNEL)
                   if name_of(n) in body(m)}
        with worker.database.session() as session:
            first = session.scalar(select(AlertRow.id).where(AlertRow.title == name_of(1)))
        hold_lanes(worker, seconds=600)  # the channel is busy: everything below waits
        assert click(server.url, ACKNOWLEDGE, encode_alert_ref(first), user_id="U0ALICE",
                     user_name="alice", channel_id=CHANNEL,
                     message_ts=parents[1].ts).status_code == 200
        for number in (1, 2, 3):
            send(server, alert("clear", number))
        send(server, alert("trigger", 4))
        send(server, alert("clear", 4))  # its clear waits for its own trigger
        send(server, alert("trigger", 5))
        send(server, alert("trigger", 6, test=3))  # flaps: threads under alert 3's parent
        posted_before = len(fake_slack.messages)
        release_lanes(worker)
        drain(worker)

    new = fake_slack.messages[posted_before:]
    order = [m.ts for m in new]
    first_note = min(i for i, m in enumerate(new) if m.thread_ts is not None)
    # The two new parents come first, before the older clears and the acknowledgement.
    assert [_is(m, n, parent=True) for m, n in zip(new[:2], (4, 5), strict=False)] == [True, True], \
        [m.text[:50] for m in new]
    assert first_note == 2
    replies_1 = fake_slack.thread(parents[1])
    assert any("alice" in body(r) for r in replies_1) and any("Cleared" in r.text for r in replies_1)
    # Alert 4's clear replies under its own parent, posted after it.
    [parent_4] = [m for m in new if _is(m, 4, parent=True)]
    [reply_4] = fake_slack.thread(parent_4)
    assert order.index(reply_4.ts) > order.index(parent_4.ts)
    # Alert 6 threads under alert 3's parent: after alert 3's clear, though it is news.
    thread_3 = fake_slack.thread(parents[3])
    assert [("Cleared" in r.text, "again" in body(r).lower()) for r in thread_3] == [
        (True, False), (False, True)], [r.text[:60] for r in thread_3]
    assert len(fake_slack.top_level(CHANNEL)) == 5  # 1-5; 6 has no parent of its own


def _plan(database, lane: str) -> str:
    """The database's plan for the claim as it runs, for ``lane`` now."""
    statement = queue._claimable_statement(locking=True).params(lane=lane, now=utcnow())
    sql = str(statement.compile(database.engine, compile_kwargs={"literal_binds": True}))
    with database.engine.connect() as connection:
        if database.is_sqlite:
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql).all()
            return "\n".join(str(row[-1]) for row in rows)
        # With scans priced out, the plan still says Seq Scan (or sorts) if the index
        # cannot serve the claim in its order.
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        rows = connection.exec_driver_sql("EXPLAIN " + sql).all()
        return "\n".join(str(row[0]) for row in rows)


def test_the_claim_reads_news_first_from_the_lane_index_whatever_waits_behind(database):
    """Structural, not timed (bench/claims.py has the figures): the database's own plan
    for the claim is a range of the lane index read in order, so a backlog of thread
    notes costs the claim nothing, on SQLite and PostgreSQL alike."""
    now = utcnow()
    with database.session() as session:
        for number in range(200):
            enqueue(session, kind=JobKind.ALERT_CLEAR if number % 4 else JobKind.ACK_NOTE,
                    alert_id=None, channel=CHANNEL, now=now - timedelta(seconds=number))
        enqueue(session, kind=JobKind.ALERT_TRIGGER, alert_id=None, channel=CHANNEL, now=now)
    lane = lane_of(JobKind.ALERT_TRIGGER, None, CHANNEL)
    plan = _plan(database, lane)
    assert "ix_outbox_jobs_lane" in plan, plan
    assert "TEMP B-TREE" not in plan.upper() and "Sort" not in plan, plan
    assert "Seq Scan on outbox_jobs" not in plan and "SCAN outbox_jobs\n" not in plan + "\n", plan
    claimed = queue.claim_next(database, "worker-1", utcnow(), timedelta(seconds=60)).job
    assert claimed is not None and claimed.kind == JobKind.ALERT_TRIGGER


def test_an_alerts_clear_still_waits_for_its_trigger_whatever_the_priority(database):
    payloads = [alert("trigger", 7), alert("clear", 7)]
    for payload in payloads:
        store_event(database, parse_event(payload), route=DEFAULT_ROUTE, channel=CHANNEL,
                    body_text=json.dumps(payload), now=utcnow())
    lease = timedelta(seconds=60)
    trigger = queue.claim_next(database, "worker-1", utcnow(), lease).job
    assert trigger is not None and trigger.kind == JobKind.ALERT_TRIGGER
    # While the trigger runs, its clear is not claimable, though nothing else waits.
    assert queue.claim_next(database, "worker-2", utcnow(), lease).job is None
    record_parent(database, trigger.alert_id, CHANNEL, "1700000000.000100")
    assert queue.finish(database, trigger, queue.Done(), utcnow()).recorded
    clear = queue.claim_next(database, "worker-2", utcnow(), lease).job
    assert clear is not None and clear.kind == JobKind.ALERT_CLEAR
