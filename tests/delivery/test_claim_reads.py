"""A job's alert is read in its claim's transaction, which saves each job a transaction.

How many transactions delivery opens per job: on SQLite each is a turn of the one writer
(``BEGIN IMMEDIATE``, then an fsync at its commit) that every webhook waits behind. A new
alert's parent costs two: the claim, which also reads the alert to render, and the
finish, which records where the parent is. Counted from the engine's own events: every
transaction takes a pooled connection (``checkout``), and on SQLite every writer begins
with ``BEGIN IMMEDIATE``.

An alert that cannot be read fails its job, as before, not the claim: the delivery thread
goes on with the other jobs.
"""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import event, select, text

from bot.db.models import JobRow, JobStatus
from bot.web.services import services
from tests.faults.helpers import trigger
from tests.support.delivery import open_jobs, send
from tests.support.waiting import wait_for

ALERTS = 6


def _count_transactions(database, run) -> Counter[str]:
    counted: Counter[str] = Counter()

    def checkout(*_args) -> None:  # noqa: ANN002
        counted["transactions"] += 1

    def statement(conn, cursor, sql, parameters, context, executemany) -> None:  # noqa: ANN001
        if sql.strip().upper().startswith("BEGIN IMMEDIATE"):
            counted["writer turns"] += 1

    event.listen(database.engine, "checkout", checkout)
    event.listen(database.engine, "before_cursor_execute", statement)
    try:
        run()
    finally:
        event.remove(database.engine, "checkout", checkout)
        event.remove(database.engine, "before_cursor_execute", statement)
    return counted


def test_a_new_alert_s_parent_costs_two_transactions(slack_app, slack_server, worker,
                                                     fake_slack):
    database = services(slack_app).database
    for number in range(ALERTS):
        send(slack_server, trigger(number))
    counted = _count_transactions(
        database, lambda: [worker.run_once() for _ in range(ALERTS)])
    assert open_jobs(worker) == 0
    assert len(fake_slack.top_level("C0ALERTS")) == ALERTS
    assert counted["transactions"] == 2 * ALERTS, counted
    if database.is_sqlite:
        assert counted["writer turns"] == 2 * ALERTS, counted


def test_an_alert_that_cannot_be_read_fails_its_job_not_the_delivery_thread(
        slack_app, slack_server, worker, fake_slack):
    database = services(slack_app).database
    if not database.is_sqlite:
        pytest.skip("PostgreSQL's json column refuses a payload that is not JSON")
    send(slack_server, trigger(1))
    with database.engine.begin() as connection:  # a payload damaged on disk
        connection.execute(text("UPDATE alerts SET data = '{not json'"))
    send(slack_server, trigger(2), channel="C0OTHER")
    wait_for(lambda: worker.run_once() and bool(fake_slack.top_level("C0OTHER")), 10,
             "the other alert posted")
    with database.session() as session:
        damaged = session.scalars(select(JobRow).where(JobRow.channel == "")).one()
    assert damaged.status in (JobStatus.PENDING, JobStatus.DEAD) and damaged.last_error
    assert fake_slack.top_level("C0ALERTS") == []
