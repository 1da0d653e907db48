"""A failure half-way through storing an event leaves nothing behind, and the sender is
told to retry (503) rather than being told the event was accepted."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import func, select, text

from bot.db.models import AlertRow, EventRow, JobRow
from tests.conftest import WEBHOOK_TOKEN
from tests.support.payloads import load_sample, sample_event

AUTH = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}

SQLITE_FAULT = """
CREATE TRIGGER injected_fault BEFORE INSERT ON outbox_jobs
BEGIN SELECT RAISE(ABORT, 'injected fault'); END
"""
POSTGRES_FAULT = [
    """CREATE FUNCTION injected_fault() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'injected fault'; END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER injected_fault BEFORE INSERT ON outbox_jobs
       FOR EACH ROW EXECUTE FUNCTION injected_fault()""",
]


def counts(database):
    with database.session() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(model))
            for model in (EventRow, AlertRow, JobRow)
        )


def install_fault(database):
    with database.engine.begin() as connection:
        if database.is_sqlite:
            connection.execute(text(SQLITE_FAULT))
        else:
            for statement in POSTGRES_FAULT:
                connection.execute(text(statement))


def remove_fault(database):
    with database.engine.begin() as connection:
        connection.execute(text(
            "DROP TRIGGER injected_fault" if database.is_sqlite
            else "DROP TRIGGER injected_fault ON outbox_jobs"
        ))


def test_failure_after_event_and_alert_rows_rolls_back_everything(live_server, database):
    install_fault(database)
    payload = load_sample("trigger")
    response = requests.post(live_server.url + "/webhooks/thousandeyes", data=json.dumps(payload),
                             headers=AUTH, timeout=10)
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert "retry" in response.json()["message"]
    assert counts(database) == (0, 0, 0)

    # ThousandEyes retries the same event once the database is healthy: it is accepted,
    # not mistaken for a duplicate of the failed attempt.
    remove_fault(database)
    retry = requests.post(live_server.url + "/webhooks/thousandeyes", data=json.dumps(payload),
                          headers=AUTH, timeout=10)
    assert retry.status_code == 200 and retry.json()["status"] == "accepted"
    assert counts(database) == (1, 1, 1)


def test_health_reports_503_when_database_is_unreachable(tmp_path):
    from bot.config import Config
    from bot.process.app import create_app
    from bot.web.services import services

    app = create_app(Config(database_url=f"sqlite:///{tmp_path}/db.sqlite3", delivery_threads=0))
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    # Make the database file unusable: a directory where the WAL file must go.
    services(app).database.dispose()
    (tmp_path / "db.sqlite3").unlink()
    (tmp_path / "db.sqlite3").mkdir()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["database"] == "unreachable"
    ingest = client.post("/webhooks/thousandeyes", json=load_sample("test"))
    assert ingest.status_code == 503


def test_a_writer_waiting_too_long_for_sqlite_answers_503_and_loses_nothing(
    live_server, database, monkeypatch
):
    if not database.is_sqlite:
        pytest.skip("the in-process writer lock exists only for SQLite")
    monkeypatch.setattr("bot.db.database._SQLITE_LOCK_TIMEOUT", 0.2)
    url = live_server.url + "/webhooks/thousandeyes"
    body = json.dumps(load_sample("trigger"))
    holding, release = threading.Event(), threading.Event()

    def hold_the_write_lock():
        with database.session():
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    try:
        assert holding.wait(5)
        response = requests.post(url, data=body, headers=AUTH, timeout=10)
        assert response.status_code == 503 and response.headers["Retry-After"]
    finally:
        release.set()
        holder.join(10)
    assert counts(database) == (0, 0, 0)
    # ThousandEyes sends it again later: now it is stored, once.
    assert requests.post(url, data=body, headers=AUTH, timeout=10).status_code == 200
    assert counts(database) == (1, 1, 1)


def test_concurrent_webhooks_are_all_stored_once(live_server, database):
    url = live_server.url + "/webhooks/thousandeyes"

    def send_batch(batch):
        statuses = []
        for number in range(20):
            payload = sample_event("trigger", event_id=f"concurrent-{batch}-{number}",
                                   alertId=f"{batch}-{number % 5}")  # repeats hit the same alert
            statuses.append(requests.post(url, data=json.dumps(payload), headers=AUTH,
                                          timeout=30).status_code)
        return statuses

    with ThreadPoolExecutor(8) as pool:
        statuses = [status for batch in pool.map(send_batch, range(8)) for status in batch]
    assert statuses == [200] * 160
    assert counts(database) == (160, 40, 160)
