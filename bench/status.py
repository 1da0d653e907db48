"""``/thousandeyes status``: the open-alerts query as the alerts table grows.

    python bench/status.py [--sizes 10000,100000] [--db sqlite|postgres|both]
                           [--channels 10] [--cleared-share 0] [--repeat 200]

A fresh database gets N alerts (all open by default, spread over ``--channels``
channels, each with a parent message there; ``--cleared-share`` makes that share of them
cleared), then ``bot.slack.commands.status_context`` (the query, its acknowledgements
and the views the template is given) is timed for one channel: median and p99 wall time
over ``--repeat`` calls. Then the open-alerts index (``ix_alerts_open_by_channel``,
migration 0008) is dropped and the same calls are timed again: the "before" column is
the same data without the index, as main before 0008 ran it.

Target: under 5 ms with 100,000 alerts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DEFAULT_PG_URL, backends, fresh_database, header, percentile, scratch  # noqa: E402

from sqlalchemy import insert  # noqa: E402

from bot.clock import utcnow  # noqa: E402
from bot.config import Config  # noqa: E402
from bot.slack.commands import status_context  # noqa: E402
from bot.db.database import Database  # noqa: E402
from bot.store.ingest import alert_payload  # noqa: E402
from bot.db.models import AlertRow, AlertState  # noqa: E402
from bot.thousandeyes import parse_event  # noqa: E402
from tests.support.payloads import numbered_alert_event  # noqa: E402

TARGET_MS = 5.0
INDEX = "ix_alerts_open_by_channel"
BATCH = 5000


def fill(db: Database, size: int, channels: int, cleared_share: float) -> None:
    """N alerts as ingest and delivery leave them, written in bulk (not the bench)."""
    now = utcnow()
    data = alert_payload(parse_event(numbered_alert_event("trigger", 0, "status", "bench")))
    cleared_every = round(1 / cleared_share) if cleared_share else 0
    rows = []
    for number in range(size):
        cleared = bool(cleared_every) and number % cleared_every == 0
        rows.append(dict(
            route="default", channel="", kind="test", alert_key=f"status-{number}",
            state=AlertState.CLEARED if cleared else AlertState.TRIGGERED,
            rule_name="Bench rule", title=f"bench test {number}", severity="major",
            permalink="https://app.thousandeyes.com/alerts/list", data=data,
            event_type="ALERT_NOTIFICATION_TRIGGER", first_seen_at=now, last_event_at=now,
            triggered_at=now, cleared_at=now if cleared else None, trigger_count=1,
            slack_channel=f"C0STATUS{number % channels:03d}", slack_ts=f"1700000000.{number:06d}",
        ))
        if len(rows) == BATCH:
            _write(db, rows)
            rows = []
    if rows:
        _write(db, rows)
    with db.engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")  # what a long-running database has
        connection.commit()


def _write(db: Database, rows: list[dict]) -> None:
    with db.session() as session:
        session.execute(insert(AlertRow.__table__), rows)


def time_status(db: Database, repeat: int) -> list[float]:
    config = Config()
    timings = []
    for _ in range(repeat):
        began = time.perf_counter()
        context = status_context(db, config, "C0STATUS000", None, utcnow())
        timings.append((time.perf_counter() - began) * 1000.0)
        assert context["alerts"], "the bench channel has open alerts"
    return timings


def drop_index(db: Database) -> None:
    with db.engine.connect() as connection:
        connection.exec_driver_sql(f"DROP INDEX {INDEX}")
        connection.commit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--channels", type=int, default=10)
    parser.add_argument("--cleared-share", type=float, default=0.0)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    header("bench/status.py: /thousandeyes status against the size of the alerts table")
    print(f"# {args.channels} channels, cleared share {args.cleared_share:g}, "
          f"{args.repeat} calls per cell; times in ms (median / p99)")
    print(f"{'backend':8} {'alerts':>8} {'with index':>18} {'without (before)':>18}  < 5 ms?")
    with scratch("bench-status-") as work:
        for backend in backends(args.db):
            for size in (int(x) for x in args.sizes.split(",") if x):
                with fresh_database(backend, work / f"{backend}-{size}", args.pg_url) as url:
                    db = Database(url)
                    try:
                        db.upgrade()
                        fill(db, size, args.channels, args.cleared_share)
                        time_status(db, 10)  # warm caches and the statement cache
                        after = time_status(db, args.repeat)
                        drop_index(db)
                        time_status(db, 3)
                        before = time_status(db, max(20, args.repeat // 10))
                    finally:
                        db.dispose()
                cells = [f"{statistics.median(t):7.2f} / {percentile(t, 99):7.2f}"
                         for t in (after, before)]
                verdict = "MET" if statistics.median(after) < TARGET_MS else "NOT MET"
                print(f"{backend:8} {size:>8} {cells[0]:>18} {cells[1]:>18}  {verdict}",
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
