"""The Alembic migrations build exactly the schema the models describe."""

import multiprocessing

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.db.database import Database
from bot.db.models import Base
from tests.support.databases import fresh_database_url


def test_migrations_match_models(database):
    with database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    # slack-sdk owns its installation and OAuth-state tables (created by migration 0002).
    ours = [d for d in differences
            if not (d[0] in ("remove_table", "remove_index") and d[1].name.startswith("slack_"))]
    assert ours == []


def test_upgrade_twice_is_harmless(database):
    database.upgrade()
    database.upgrade()
    assert database.ping()


def _upgrade_when_released(url, barrier, results):
    barrier.wait()
    try:
        Database(url).upgrade()
        results.put("migrated")
    except Exception as error:  # the child reports any failure to the test
        results.put(f"{type(error).__name__}: {error}"[:300])


def test_processes_that_start_together_all_migrate_a_fresh_database(tmp_path):
    # serve and worker (or two dynos) migrate the same fresh database at the same moment.
    # Alembic commits each SQLite migration on its own, so without one lock around the
    # whole upgrade the slower process re-applies a migration the other has just made
    # ("index ... already exists"), or meets the WAL switch ("database is locked").
    context = multiprocessing.get_context("fork")
    failures = []
    for round_number in range(12):
        with fresh_database_url(tmp_path / f"round{round_number}") as url:
            barrier, results = context.Barrier(3), context.Queue()
            children = [context.Process(target=_upgrade_when_released,
                                        args=(url, barrier, results)) for _ in range(3)]
            for child in children:
                child.start()
            outcomes = [results.get(timeout=60) for _ in children]
            for child in children:
                child.join(timeout=60)
            failures += [outcome for outcome in outcomes if outcome != "migrated"]
            database = Database(url)
            try:
                database.check_schema()  # every migration is applied, once
            finally:
                database.dispose()
    assert failures == []
