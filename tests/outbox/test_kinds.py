"""One registry of job kinds: every kind names its handler, an unknown kind is dead at
once with the reason, and a job's progress is a typed record apart from its arguments."""

from __future__ import annotations

import json

from sqlalchemy import create_engine, select, text, update

from bot.db.database import Database
from bot.db.models import JobKind, JobRow, JobStatus
from bot.delivery.handlers import HANDLERS
from bot.outbox.kinds import KINDS, spec_of
from bot.outbox.progress import JobProgress
from bot.web.services import services
from tests.db.test_migration_0004 import migrate
from tests.support.delivery import drain, send
from tests.support.payloads import load_sample


def test_every_kind_has_an_entry_naming_a_handler():
    assert set(KINDS) == set(JobKind)
    assert set(HANDLERS) == set(KINDS)
    for kind in KINDS:
        assert callable(HANDLERS[kind]), kind
    assert spec_of("no_such_kind") is None


def test_a_job_of_an_unknown_kind_is_dead_at_its_first_attempt(slack_app, slack_server, worker):
    send(slack_server, load_sample("test"))
    database = services(slack_app).database
    with database.session() as session:
        session.execute(update(JobRow).values(kind="from_a_newer_version"))
    drain(worker)
    with database.session() as session:
        job = session.scalars(select(JobRow)).one()
    assert job.status == JobStatus.DEAD and job.attempts == 1
    assert "unknown_kind" in job.last_error and "from_a_newer_version" in job.last_error


def test_progress_reads_what_was_stored_and_ignores_the_rest():
    stored = {"in_flight": "job-7", "in_flight_since": 1700000000, "reply_ts": "1.2",
              "answer_lost": 1, "note_ts": 5, "other": "x"}
    progress = JobProgress.from_json(stored)
    assert progress == JobProgress("job-7", 1700000000.0, True, "1.2", None)
    progress.settle()
    assert progress.to_json() == {"reply_ts": "1.2"}
    assert JobProgress.from_json(None) == JobProgress()


def test_migration_0007_moves_progress_out_of_the_arguments(database_url):
    migrate(database_url, "0006")
    engine = create_engine(database_url)
    legacy = {"user_id": "U0ALICE", "user_name": "alice", "acknowledged": True,
              "at": "2026-12-01T10:00:00+00:00", "in_flight": "job-1",
              "in_flight_since": 1764583200.0, "reply_ts": "1764583201.000100"}
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO outbox_jobs (kind, channel, status, attempts, next_attempt_at,"
            " created_at, updated_at, data, lane)"
            " VALUES ('ack_note', 'C0ALERTS', 'pending', 1, :now, :now, :now, :data, :lane)"
        ), {"now": "2026-12-01 10:00:00", "data": json.dumps(legacy), "lane": ":C0ALERTS"})
    engine.dispose()
    database = Database(database_url)
    database.upgrade()
    with database.session() as session:
        job = session.scalars(select(JobRow)).one()
    assert job.data == {"user_id": "U0ALICE", "user_name": "alice", "acknowledged": True,
                        "at": "2026-12-01T10:00:00+00:00"}
    assert JobProgress.from_json(job.progress) == JobProgress(
        in_flight="job-1", in_flight_since=1764583200.0, reply_ts="1764583201.000100")
    database.dispose()
