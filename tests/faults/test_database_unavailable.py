"""The database goes away while webhooks keep arriving, then comes back.

While it is away the webhook answers 503 with ``Retry-After`` (ThousandEyes retries) and
nothing is half-stored: every stored event has its alert and its job. Once it is back,
ingest resumes by itself, and resending what got no 200 stores each event exactly once.

How the database goes away:

- PostgreSQL: the app connects as a role made for this test's schema; the role is set
  ``NOLOGIN`` and its backends are terminated with ``pg_terminate_backend`` (in the middle
  of requests, as they come). Coming back is ``ALTER ROLE ... LOGIN``. Only this test's
  role and schema are touched; the role is dropped at the end.
- SQLite: the file is moved away and a directory put in its place, and the app's pooled
  connections are dropped (as they are when a volume is remounted), so every new
  connection fails to open the file. Coming back is moving the file back. (A SQLite
  file that is merely moved keeps working through the open connections, and a held
  write lock makes writers wait out the 30 s busy timeout, so neither is usable here.)
"""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from bot.config import Config
from bot.db.database import Database
from bot.db.models import AlertRow, EventRow, JobRow
from bot.process.app import create_app
from bot.web.services import services
from tests.conftest import WEBHOOK_TOKEN
from tests.faults.helpers import post_webhook, trigger
from tests.support.servers import LiveServer
from tests.support.waiting import wait_for

EVENTS = 60
ACCEPTED_BEFORE_OUTAGE = 15


class PostgresOutage:
    def __init__(self, database_url: str) -> None:
        self.admin = create_engine(database_url)
        with self.admin.connect() as connection:
            self.schema = connection.execute(text("SELECT current_schema()")).scalar_one()
        assert self.schema.startswith("t_"), self.schema  # the test's own schema
        self.role = f"{self.schema}_app_{uuid.uuid4().hex[:6]}"
        with self.admin.begin() as connection:
            connection.execute(text(f'CREATE ROLE "{self.role}" LOGIN'))
            connection.execute(text(f'GRANT USAGE, CREATE ON SCHEMA "{self.schema}" TO "{self.role}"'))
        self.app_url = make_url(database_url).set(username=self.role).render_as_string(
            hide_password=False)

    def start(self) -> None:
        with self.admin.begin() as connection:
            connection.execute(text(f'ALTER ROLE "{self.role}" NOLOGIN'))
            connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :role"
            ), {"role": self.role})

    def stop(self) -> None:
        with self.admin.begin() as connection:
            connection.execute(text(f'ALTER ROLE "{self.role}" LOGIN'))

    def close(self) -> None:
        with self.admin.begin() as connection:
            connection.execute(text(f'ALTER ROLE "{self.role}" NOLOGIN'))
            connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :role"
            ), {"role": self.role})
            # The schema (dropped by the database_url fixture) holds all it owns.
            connection.execute(text(f'REASSIGN OWNED BY "{self.role}" TO CURRENT_USER'))
            connection.execute(text(f'DROP OWNED BY "{self.role}"'))
            connection.execute(text(f'DROP ROLE "{self.role}"'))
        self.admin.dispose()


class SqliteOutage:
    def __init__(self, database_url: str) -> None:
        self.app_url = database_url
        self.path = Path(make_url(database_url).database)
        self.away = self.path.with_name(self.path.name + ".away")
        self.database: Database | None = None

    def start(self) -> None:
        assert self.database is not None
        os.rename(self.path, self.away)
        self.path.mkdir()
        self.database.dispose()

    def stop(self) -> None:
        self.path.rmdir()
        os.rename(self.away, self.path)

    def close(self) -> None:
        pass


@pytest.fixture
def outage(database_url):
    kind = PostgresOutage if make_url(database_url).get_backend_name() == "postgresql" else SqliteOutage
    made = kind(database_url)
    yield made
    made.close()


def _stored(database: Database) -> dict[str, tuple]:
    """eventId -> (alert id, number of jobs) for every stored event."""
    with database.session() as session:
        events = session.execute(select(EventRow.event_id, EventRow.id, EventRow.alert_id)).all()
        jobs = dict(session.execute(
            select(JobRow.event_pk, func.count()).group_by(JobRow.event_pk)).all())
        alerts = session.scalar(select(func.count()).select_from(AlertRow))
        orphan_jobs = session.scalar(select(func.count()).select_from(JobRow).where(
            JobRow.event_pk.not_in(select(EventRow.id))))
    assert orphan_jobs == 0, "jobs without their event"
    assert alerts == len(events), f"{alerts} alerts for {len(events)} events"
    return {event_id: (alert_id, jobs.get(pk, 0)) for event_id, pk, alert_id in events}


def test_database_away_answers_503_stores_nothing_half_and_ingest_resumes(outage, tmp_path):
    app = create_app(Config(database_url=outage.app_url, webhook_token=WEBHOOK_TOKEN,
                            delivery_threads=0))
    database = services(app).database
    if isinstance(outage, SqliteOutage):
        outage.database = database
    events = [trigger(number, "db") for number in range(EVENTS)]
    answers: dict[str, int | str] = {}
    refusals: list[requests.Response] = []
    gate = threading.Lock()  # SQLite's outage switches between two requests
    away, back = threading.Event(), threading.Event()

    def stream(base_url: str) -> None:
        with requests.Session() as session:
            for index, payload in enumerate(events):
                if index == ACCEPTED_BEFORE_OUTAGE:
                    # Ingest is fast enough to send every event before the outage begins:
                    # wait for it, so that the rest meet it.
                    away.wait(30)
                if isinstance(outage, SqliteOutage):
                    gate.acquire()
                try:
                    response = post_webhook(base_url, payload, session=session, timeout=20)
                    answers[payload["eventId"]] = response.status_code
                    if response.status_code == 503:
                        refusals.append(response)
                except requests.RequestException as error:
                    answers[payload["eventId"]] = type(error).__name__
                finally:
                    if isinstance(outage, SqliteOutage):
                        gate.release()
                if len(refusals) >= 3:
                    # Seen enough refusals: hold the rest until the database is back, so
                    # that some events arrive after it and show ingest resuming.
                    back.wait(30)

    try:
        with LiveServer(app) as server:
            sender = threading.Thread(target=stream, args=(server.url,), daemon=True)
            sender.start()
            wait_for(lambda: sum(a == 200 for a in answers.values()) >= ACCEPTED_BEFORE_OUTAGE,
                     20, "ingest running")
            with gate:
                outage.start()
            away.set()
            wait_for(lambda: len(refusals) >= 3, 20, "503s while the database is away")
            if isinstance(outage, PostgresOutage):
                assert requests.get(server.url + "/healthz", timeout=10).status_code == 503
            with gate:
                outage.stop()
            back.set()
            sender.join(60)
            assert not sender.is_alive()

            for response in refusals:
                assert response.headers["Retry-After"]
                assert response.json()["message"]
            statuses = [answers.get(e["eventId"]) for e in events]
            assert set(statuses) <= {200, 503}, statuses
            last_refusal = max(i for i, s in enumerate(statuses) if s == 503)
            assert 200 in statuses[last_refusal + 1:], "ingest did not resume by itself"

            # Nothing half-stored: every stored event has its alert and exactly one job.
            stored = _stored(database)
            for event_id, (alert_id, jobs) in stored.items():
                assert alert_id is not None and jobs == 1, (event_id, alert_id, jobs)
            accepted = {e["eventId"] for e in events if answers[e["eventId"]] == 200}
            assert accepted <= set(stored)

            # ThousandEyes retries the rest: each is stored once.
            with requests.Session() as session:
                for payload in events:
                    if answers[payload["eventId"]] != 200:
                        response = post_webhook(server.url, payload, session=session)
                        assert response.status_code == 200, response.text
            stored = _stored(database)
            assert set(stored) == {e["eventId"] for e in events}
            assert all(alert_id is not None and jobs == 1 for alert_id, jobs in stored.values())
            assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
    finally:
        database.dispose()
