"""Jobs queued before migration 0004 are delivered after it: they get their lanes."""

from __future__ import annotations

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import create_engine, text

from bot.config import Config
from bot.db.database import MIGRATIONS_DIR, Database
from bot.delivery.runner import DeliveryWorker
from tests.support.delivery import drain


def migrate(url: str, revision: str) -> None:
    engine = create_engine(url)
    alembic_config = AlembicConfig()
    alembic_config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.connect() as connection:
        alembic_config.attributes["connection"] = connection
        command.upgrade(alembic_config, revision)
        connection.commit()
    engine.dispose()


def test_jobs_queued_before_the_upgrade_are_delivered_after_it(database_url, fake_slack):
    migrate(database_url, "0003")
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO events (route, channel, event_id, event_type, received_at, payload)"
            " VALUES ('default', 'C0OTHER', 'e-1', 'WEBHOOK_TEST', :now, :payload)"
        ), {"now": "2026-12-01 10:00:00", "payload": '{"eventId": "e-1", "eventType": '
            '"WEBHOOK_TEST", "alert": {}}'})
        event_id = connection.execute(text("SELECT id FROM events")).scalar_one()
        connection.execute(text(
            "INSERT INTO outbox_jobs (event_pk, kind, channel, status, attempts,"
            " next_attempt_at, created_at, updated_at, data)"
            " VALUES (:event, 'webhook_test', 'C0OTHER', 'pending', 0, :now, :now, :now, '{}')"
        ), {"event": event_id, "now": "2026-12-01 10:00:00"})
    engine.dispose()

    database = Database(database_url)
    database.upgrade()
    config = Config(database_url=database_url, slack_bot_token="xoxb-test",
                    slack_api_url=fake_slack.url, slack_channel="C0ALERTS",
                    slack_post_interval=0, delivery_max_age=10**8)
    worker = DeliveryWorker(config, database, backoff=lambda attempts: 0.05)
    drain(worker)
    assert len(fake_slack.top_level("C0OTHER")) == 1
    database.dispose()
