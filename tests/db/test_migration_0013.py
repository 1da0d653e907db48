"""Events stored before migration 0013 get their body's hash: a retry of one is still a
duplicate after the upgrade, and the same id with another body is a new event."""

from __future__ import annotations

import json

from sqlalchemy import create_engine, select, text

from bot.config import Config
from bot.db.models import EventRow
from bot.process.app import create_app
from bot.web.services import services
from tests.conftest import WEBHOOK_TOKEN
from tests.db.test_migration_0004 import migrate
from tests.support.payloads import load_sample


def test_events_stored_before_the_upgrade_are_still_recognised(database_url):
    migrate(database_url, "0010")
    trigger = load_sample("trigger")
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO events (route, channel, event_id, event_type, received_at, payload)"
            " VALUES ('default', '', :event_id, :event_type, :now, :payload)"
        ), {"event_id": trigger["eventId"], "event_type": trigger["eventType"],
            "now": "2026-12-01 10:00:00", "payload": json.dumps(trigger, indent=2)})
        # A job pointing at the event: SQLite copies the events table to change its key,
        # which failed ("FOREIGN KEY constraint failed") while rows pointed at it.
        connection.execute(text(
            "INSERT INTO outbox_jobs (event_pk, kind, channel, status, attempts,"
            " next_attempt_at, created_at, updated_at, data, lane, progress)"
            " SELECT id, 'alert_trigger', '', 'done', 1, :now, :now, :now, '{}', ':', '{}'"
            " FROM events"), {"now": "2026-12-01 10:00:00"})
    engine.dispose()

    app = create_app(Config(database_url=database_url, webhook_token=WEBHOOK_TOKEN,
                            delivery_threads=0))
    client = app.test_client()
    auth = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
    try:
        retry = client.post("/webhooks/thousandeyes", json=trigger, headers=auth)
        assert retry.get_json()["status"] == "duplicate"
        clear = load_sample("clear")
        clear["eventId"] = trigger["eventId"]
        reused = client.post("/webhooks/thousandeyes", json=clear, headers=auth)
        assert reused.get_json()["status"] == "accepted"
        with services(app).database.session() as session:
            types = session.scalars(select(EventRow.event_type).order_by(EventRow.id)).all()
        assert types == ["ALERT_NOTIFICATION_TRIGGER", "ALERT_NOTIFICATION_CLEAR"]
    finally:
        services(app).database.dispose()
