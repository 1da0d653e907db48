"""What a finish's read of "the jobs still waiting for this alert" costs as the backlog grows.

    python bench/finish_backlog.py [--backlogs 1000,100000] [--db sqlite|postgres]

A fresh database gets a backlog of pending jobs over 50 channels (none of the measured
alert's), then the read ``lanes.after_run`` makes on every finish is timed (median wall
time of 200 runs), as shipped before issue 24 (``alert_id = ? OR alert_id IN (alerts
threading under it)``, one statement) and as it is now (``lanes.waiting_lanes_statement``,
a UNION of two searches of ``ix_outbox_jobs_alert``). Target: the cost does not grow with
the backlog. The whole delivery at 100,000 pending is not run here (inserting and draining
it takes longer than this machine's shared budget allows).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DEFAULT_PG_URL, fresh_database, header, scratch  # noqa: E402

from sqlalchemy import insert, or_, select  # noqa: E402

from bot.clock import utcnow  # noqa: E402
from bot.db.database import Database  # noqa: E402
from bot.db.models import AlertRow, JobRow, JobStatus  # noqa: E402
from bot.outbox.enqueue import job_values  # noqa: E402
from bot.outbox.lanes import waiting_lanes_statement  # noqa: E402

CHANNELS = 50
READS = 200
_JOBS, _ALERTS = JobRow.__table__, AlertRow.__table__


def _shipped_before(alert_id: int):  # noqa: ANN202 - a SQL statement
    threading = select(_ALERTS.c.id).where(_ALERTS.c.thread_alert_id == alert_id)
    return select(_JOBS.c.lane).where(
        or_(_JOBS.c.alert_id == alert_id, _JOBS.c.alert_id.in_(threading)),
        _JOBS.c.status == JobStatus.PENDING)


def _median_ms(db: Database, run) -> float:  # noqa: ANN001
    walls = []
    for _ in range(READS):
        with db.session() as session:
            started = time.perf_counter()
            run(session)
            walls.append((time.perf_counter() - started) * 1000)
    return statistics.median(walls)


def measure(url: str, backlog: int) -> dict[str, float]:
    db = Database(url)
    try:
        db.upgrade()
        now = utcnow()
        for start in range(0, backlog, 5000):  # in chunks: PostgreSQL has a statement deadline
            with db.session() as session:
                rows = [job_values(kind="alert_trigger", alert_id=None,
                                   channel=f"C0FIN{number % CHANNELS:03d}", now=now)
                        for number in range(start, min(backlog, start + 5000))]
                session.connection().execute(insert(_JOBS), rows)
        if not db.is_sqlite:
            with db.session() as session:
                session.connection().exec_driver_sql("ANALYZE outbox_jobs")
        alert_id = 1  # no job of it pending: what most finishes find
        return {
            "before": _median_ms(db, lambda s: s.execute(_shipped_before(alert_id)).all()),
            "now": _median_ms(db, lambda s: s.execute(waiting_lanes_statement(),
                                                      {"alert_id": alert_id}).all()),
        }
    finally:
        db.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backlogs", default="1000,100000")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = parser.parse_args()
    header("bench/finish_backlog.py: a finish's read of the alert's waiting jobs")
    print(f"# db={args.db}, {CHANNELS} channels, median of {READS} reads (wall)")
    with scratch("bench-finish-backlog-") as work:
        for backlog in (int(b) for b in args.backlogs.split(",") if b):
            with fresh_database(args.db, work / f"db-{backlog}", args.pg_url) as url:
                figures = measure(url, backlog)
            print(f"  backlog {backlog:>7}: before {figures['before']:8.3f} ms   "
                  f"now {figures['now']:6.3f} ms", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
