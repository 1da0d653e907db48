"""``/healthz`` says which part is down, and reports a database that answers reads but
cannot take a write.

Full disk: the SQLite file lives on a small tmpfs that the test fills, so SQLite meets a
real ENOSPC and reports SQLITE_FULL, as on a full volume. (PRAGMA max_page_count gives
the same error code, but only on connections told about it, and a write that fits in an
existing page still succeeds; a read-only file does not stop root, who runs CI.)
Read-only PostgreSQL: the app's role gets ``default_transaction_read_only``, which is what
a replica promoted the wrong way round or a server out of disk answers with.
"""

from __future__ import annotations

import errno
import subprocess
import uuid

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.config import Config
from bot.process.app import create_app
from bot.web.services import services
from tests.conftest import WEBHOOK_TOKEN
from tests.faults.helpers import post_webhook, trigger
from tests.support.databases import postgres_base_url
from tests.support.servers import LiveServer


def test_healthz_names_each_part(live_server):
    answer = requests.get(live_server.url + "/healthz", timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ok", "database": "ok", "slack": "log-only", "delivery": "ok",
        "queue": {"pending": 0, "due": 0, "running": 0, "dead": 0, "oldest_due_seconds": 0.0},
    }


@pytest.fixture
def small_disk(tmp_path):
    if postgres_base_url() is not None:
        pytest.skip("the SQLite run covers a full disk")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk):
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 4096)
        except OSError as error:
            assert error.errno == errno.ENOSPC
    return filler


def test_healthz_reports_a_full_disk_and_recovers(small_disk):
    app = create_app(Config(database_url=f"sqlite:///{small_disk / 'bot.sqlite3'}",
                            webhook_token=WEBHOOK_TOKEN, delivery_threads=0))
    try:
        with LiveServer(app) as server:
            assert post_webhook(server.url, trigger(1, "disk")).status_code == 200
            assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
            filler = fill(small_disk)
            health = requests.get(server.url + "/healthz", timeout=40)
            assert health.status_code == 503, health.text
            assert health.json()["database"] == "cannot write"
            assert "full" in health.json()["problem"]
            assert post_webhook(server.url, trigger(2, "disk"), timeout=40).status_code == 503
            filler.unlink()
            assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
            assert post_webhook(server.url, trigger(3, "disk")).status_code == 200
    finally:
        services(app).database.dispose()


@pytest.fixture
def read_only_role(database_url):
    if postgres_base_url() is None:
        pytest.skip("PostgreSQL only")
    admin = create_engine(database_url)
    with admin.connect() as connection:
        schema = connection.execute(text("SELECT current_schema()")).scalar_one()
    assert schema.startswith("t_"), schema  # the test's own schema
    role = f"{schema}_ro_{uuid.uuid4().hex[:6]}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        connection.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"'))
        connection.execute(text(f'GRANT ALL ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"'))
        connection.execute(text(f'ALTER ROLE "{role}" SET default_transaction_read_only = on'))
    yield make_url(database_url).set(username=role).render_as_string(hide_password=False)
    with admin.begin() as connection:
        connection.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :role"),
            {"role": role})
        connection.execute(text(f'DROP OWNED BY "{role}"'))
        connection.execute(text(f'DROP ROLE "{role}"'))
    admin.dispose()


def test_healthz_reports_a_read_only_database(database_url, read_only_role):
    owner = create_app(Config(database_url=database_url, delivery_threads=0))  # migrates
    services(owner).database.dispose()
    app = create_app(Config(database_url=read_only_role, delivery_threads=0), migrate=False)
    try:
        health = app.test_client().get("/healthz")
        assert health.status_code == 503
        assert health.json["database"] == "cannot write"
        assert "read-only" in health.json["problem"]
    finally:
        services(app).database.dispose()
