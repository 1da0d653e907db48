"""Migration 0011 on a database with work queued: waiting triggers become news (claimed
first in their lane), everything else waits behind them, and storms gain what their
messages show (nothing yet: their next refresh updates each message once)."""

from __future__ import annotations

from sqlalchemy import create_engine, select, text

from bot.db.database import Database
from bot.db.models import JobRow, StormRow
from tests.db.test_migration_0004 import migrate


def test_jobs_and_storms_from_before_the_upgrade_get_their_priority_and_no_fingerprints(
        database_url):
    migrate(database_url, "0010")
    engine = create_engine(database_url)
    with engine.begin() as connection:
        for kind in ("alert_clear", "alert_trigger", "ack_note", "storm_page"):
            connection.execute(text(
                "INSERT INTO outbox_jobs (kind, channel, status, attempts, next_attempt_at,"
                " created_at, updated_at, data, lane, progress)"
                " VALUES (:kind, 'C0ALERTS', 'pending', 0, :now, :now, :now, '{}', :lane,"
                " '{}')"), {"kind": kind, "now": "2026-12-01 10:00:00", "lane": ":C0ALERTS"})
        connection.execute(text(
            "INSERT INTO storms (lane, anchor_alert_id, opened_at, last_joined_at, version,"
            " rendered_version, pages) VALUES (:lane, 1, :now, :now, 1, 1, '[]')"),
            {"now": "2026-12-01 10:00:00", "lane": ":C0ALERTS"})
    engine.dispose()
    database = Database(database_url)
    database.upgrade()
    with database.session() as session:
        priorities = dict(session.execute(select(JobRow.kind, JobRow.priority)).all())
        storm = session.scalars(select(StormRow)).one()
    assert priorities == {"alert_clear": 1, "alert_trigger": 0, "ack_note": 1, "storm_page": 1}
    assert storm.shown == {}
    database.dispose()
