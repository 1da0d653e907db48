"""A finish reads the pending jobs of its alert through indexes, never the whole backlog.

Structural, not timed (bench/finish_backlog.py has the figures): every statement a finish
runs on ``outbox_jobs`` is explained by the database itself, on SQLite and PostgreSQL
alike, and every read of the table must go through ``ix_outbox_jobs_alert``. A read of
every pending job made each finish cost as much as the backlog was long, so delivery
slowed as the backlog grew.
"""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import event

from bot.clock import utcnow
from bot.delivery.outcome import Done
from bot.outbox import queue
from bot.store.ingest import store_event
from bot.thousandeyes import parse_event
from tests.support.payloads import numbered_alert_event

CHANNEL = "C0ALERTS"
INDEX = "ix_outbox_jobs_alert"


def _store_alerts(database, count: int) -> None:
    for number in range(count):
        payload = numbered_alert_event("trigger", number, "plan", f"test {number}")
        store_event(database, parse_event(payload), route="default", channel=CHANNEL,
                    body_text=json.dumps(payload), now=utcnow())


def _statements_of(database, run) -> list[tuple[str, object]]:
    """The SELECTs on outbox_jobs that ``run()`` sends to the database, with their values."""
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        if statement.lstrip().upper().startswith("SELECT") and "outbox_jobs" in statement:
            seen.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", record)
    try:
        run()
    finally:
        event.remove(database.engine, "before_cursor_execute", record)
    return seen


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
    """The plan's reads of outbox_jobs: SQLite's SEARCH/SCAN lines, PostgreSQL's scans."""
    return [line for line in plan.splitlines()
            if ("SEARCH outbox_jobs" in line or "SCAN outbox_jobs" in line
                or " on outbox_jobs" in line)]


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
