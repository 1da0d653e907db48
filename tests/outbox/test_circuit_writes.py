"""The circuit costs a finish nothing while Slack answers, and still closes after an outage.

A success writes to ``delivery_workspaces`` only when this process saw the workspace's
circuit open: it opened it, or its probe loop read it open (``bot.outbox.circuit``).
"""

from __future__ import annotations

from datetime import timedelta

from bot.clock import utcnow
from bot.db.database import Database
from bot.db.models import DeliveryWorkspaceRow, JobKind, WaitingFor
from bot.outbox import circuit, queue
from bot.outbox.enqueue import enqueue
from bot.outbox.outcome import Done, Retry
from tests.support.databases import statements_sent

LEASE = timedelta(seconds=30)
TEAM = "T0CIRCUIT"


def _queue_post(database, now) -> None:
    with database.session() as session:
        enqueue(session, kind=JobKind.WEBHOOK_TEST, alert_id=None, channel="C1", now=now,
                team_id=TEAM)


def _claim(database, now):
    job = queue.claim_next(database, "w", now, LEASE, 0.0).job
    assert job is not None
    return job


def _failing_since(database):
    with database.session() as session:
        row = session.get(DeliveryWorkspaceRow, TEAM)
        return None if row is None else row.failing_since


def _workspace_statements(database, run) -> list[str]:
    return [statement for statement, _ in
            statements_sent(database, run, lambda statement: "delivery_workspaces" in statement)]


def test_a_success_on_a_closed_circuit_runs_no_statement_on_it(database):
    now = utcnow()
    _queue_post(database, now)
    job = _claim(database, now)
    written = _workspace_statements(
        database, lambda: queue.finish(database, job, Done(), now, slack_ok=True))
    assert written == []


def test_a_circuit_opened_here_closes_on_the_next_success_and_releases_the_backoff(database):
    now = utcnow()
    _queue_post(database, now)
    _queue_post(database, now)
    failed = _claim(database, now)
    backoff = Retry(delay=60, reason="Slack 503", waiting_for=WaitingFor.BACKOFF)
    assert queue.finish(database, failed, backoff, now, slack_ok=False).recorded
    assert _failing_since(database) is not None
    succeeded = _claim(database, now)
    finished = queue.finish(database, succeeded, Done(), now, slack_ok=True)
    assert _failing_since(database) is None
    assert finished.released == 1


def test_a_circuit_another_process_opened_closes_once_the_probe_loop_read_it(
        database, database_url):
    now = utcnow()
    _queue_post(database, now)
    other = Database(database_url)  # another process's view of the same database
    try:
        with other.raw_transaction() as transaction:
            circuit.note_failure(transaction, other, TEAM, now)
    finally:
        other.dispose()
    assert _failing_since(database) is not None
    circuit.probe_failing_workspaces(database, now + timedelta(seconds=circuit.PROBE_SECONDS))
    job = _claim(database, now)
    assert queue.finish(database, job, Done(), now, slack_ok=True).recorded
    assert _failing_since(database) is None
