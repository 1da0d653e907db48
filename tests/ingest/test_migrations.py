"""The Alembic migrations build exactly the schema the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.store.models import Base


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
