"""A finish reads the pending jobs of its alert through indexes, never the whole backlog;
so does every other statement a delivered job runs on ``outbox_jobs``.

Structural, not timed (bench/finish_backlog.py has the figures): every statement a finish
runs on ``outbox_jobs`` is explained by the database itself, on SQLite and PostgreSQL
alike, and every read of the table must go through ``ix_outbox_jobs_alert``. A read of
every pending job made each finish cost as much as the backlog was long, so delivery
slowed as the backlog grew. The claim's statements, a saved progress and the claim of a
lane whose jobs are not due read the table through an index too (the lane index, or the
job's primary key).
"""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import update

from bot.clock import utcnow
from bot.db.models import JobRow
from bot.delivery.outcome import Done
from bot.outbox import queue
from bot.store.ingest import store_event
from bot.thousandeyes import parse_event
from tests.support.databases import statements_sent
from tests.support.payloads import numbered_alert_event

CHANNEL = "C0ALERTS"
INDEX = "ix_outbox_jobs_alert"


def _store_alerts(database, count: int) -> None:
    for number in range(count):
        payload = numbered_alert_event("trigger", number, "plan", f"test {number}")
        store_event(database, parse_event(payload), route="default", channel=CHANNEL,
                    body_text=json.dumps(payload), now=utcnow())


def _statements_of(database, run, kinds: tuple[str, ...] = ("SELECT",)
                   ) -> list[tuple[str, object]]:
    """The statements on outbox_jobs (SELECTs, unless ``kinds`` says more) that ``run()``
    sends to the database, with their values."""
    return statements_sent(database, run, lambda statement: statement.lstrip().upper()
                           .startswith(kinds) and "outbox_jobs" in statement)


def _plan(database, statement: str, parameters: object) -> str:
    with database.engine.connect() as connection, connection.begin():
        if database.is_sqlite:
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            return "\n".join(str(row[-1]) for row in rows)
        # A few rows would make a sequential scan the cheaper plan; with scans priced
        # out, the plan still says Seq Scan if no index can serve the query. Statistics
        # as autovacuum keeps them: without, every index looks as good as another.
        connection.exec_driver_sql("ANALYZE outbox_jobs")
        connection.exec_driver_sql("ANALYZE alerts")
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters).all()
        return "\n".join(str(row[0]) for row in rows)


def _reads_of_jobs(plan: str) -> list[str]:
    """The plan's reads of outbox_jobs (and of its alias in the claim, ``earlier``):
    SQLite's SEARCH/SCAN lines, PostgreSQL's scans (not its ``Update on`` line)."""
    return [line for line in plan.splitlines()
            if any(f"{verb} {table}" in line for verb in ("SEARCH", "SCAN")
                   for table in ("outbox_jobs", "earlier"))
            or (" on outbox_jobs" in line and "Update on" not in line)]


def _by_an_index(line: str) -> bool:
    """SQLite: SEARCH … USING (COVERING) INDEX or INTEGER PRIMARY KEY; PostgreSQL: an
    index scan (an Index Cond), never a sequential one."""
    return ("USING" in line and ("INDEX" in line or "PRIMARY KEY" in line)) or (
        "Index" in line and "Seq Scan" not in line)


def _assert_indexed(database, statements) -> None:
    for statement, parameters in statements:
        plan = _plan(database, statement, parameters)
        reads = _reads_of_jobs(plan)
        assert reads and all(_by_an_index(line) for line in reads), (statement, plan)


def test_a_finish_searches_the_alert_index_for_what_waited_not_the_backlog(database):
    _store_alerts(database, 40)
    now = utcnow()
    job = queue.claim_next(database, "worker-1", now, timedelta(seconds=60), 0.0).job
    assert job is not None and job.alert_id is not None
    statements = _statements_of(
        database, lambda: queue.finish(database, job, Done(), now))
    assert statements, "the finish read no pending jobs"
    for statement, parameters in statements:
        plan = _plan(database, statement, parameters)
        reads = _reads_of_jobs(plan)
        assert reads and all(INDEX in line for line in reads), (statement, plan)


def test_a_claim_and_a_saved_progress_read_outbox_jobs_through_indexes(database):
    _store_alerts(database, 40)
    now = utcnow()
    claimed: list = []
    statements = _statements_of(database, lambda: claimed.append(queue.claim_next(
        database, "worker-1", now, timedelta(seconds=60), 0.0).job), kinds=("SELECT", "UPDATE"))
    [job] = claimed
    assert job is not None
    statements += _statements_of(database, lambda: queue.save_progress(database, job, now),
                                 kinds=("UPDATE",))
    statements += _statements_of(database, lambda: queue.finish(database, job, Done(), now),
                                 kinds=("UPDATE",))
    assert len(statements) >= 4, statements  # the claim's read and update, progress, finish
    _assert_indexed(database, statements)


def test_a_claim_of_a_lane_whose_jobs_are_not_due_reads_the_lane_index(database):
    _store_alerts(database, 10)
    now = utcnow()
    with database.session() as session:  # every job in backoff, its lane still ready
        session.execute(update(JobRow).values(next_attempt_at=now + timedelta(minutes=5)))
    statements = _statements_of(database, lambda: queue.claim_next(
        database, "worker-1", now, timedelta(seconds=60), 0.0))
    assert len(statements) >= 3, statements  # claimable?, the next due, any due now
    _assert_indexed(database, statements)
