"""What ``GET /metrics`` and ``GET /healthz`` cost as the outbox grows.

    python bench/scrape.py [--done 0,10000,100000] [--db sqlite|postgres|both]

Both read the outbox from the database on every request (bot.outbox.snapshot). A fresh
database gets ``--done`` finished jobs, 100 dead ones and 1,000 pending ones over 20
channels; then each endpoint is requested 200 times through the app (Flask's test
client, in this process) and the median and p99 wall time printed, in two states:

- moving: the pending jobs are due now (the usual state of a backlog);
- late: the oldest due job has waited longer than DELIVERY_STUCK_AFTER, so every request
  also asks whether any job was claimed or finished lately (the one query not on an
  index), and jobs did finish lately (a backlog draining slowly);
- stuck: the same, and no job finished lately (the answer is "no": it reads them all).

Target: a scrape or health check stays in the milliseconds, and does not grow with the
finished jobs (which are never read).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import backends, fresh_database, header, median, percentile, scratch  # noqa: E402

from sqlalchemy import insert  # noqa: E402

from bot.process.app import create_app  # noqa: E402
from bot.clock import utcnow  # noqa: E402
from bot.config import Config  # noqa: E402
from bot.web.services import services  # noqa: E402
from bot.outbox.enqueue import job_values  # noqa: E402
from bot.db.models import JobRow, JobStatus  # noqa: E402

CHANNELS = 20
PENDING = 1000
DEAD = 100
REQUESTS = 200


def fill(database, done: int, age: timedelta, finished_lately: bool) -> None:  # type: ignore[no-untyped-def]
    """``done`` finished, DEAD dead and PENDING pending jobs, queued ``age`` ago; the
    finished ones finished now (``finished_lately``) or when they were queued."""
    now = utcnow()
    start = now - age
    rows = []
    for number in range(done + DEAD + PENDING):
        values = job_values(kind="alert_trigger", alert_id=None,
                            channel=f"C{number % CHANNELS:08d}", now=start)
        if number < done:
            values.update(status=JobStatus.DONE, attempts=1,
                          updated_at=now if finished_lately else start)
        elif number < done + DEAD:
            values.update(status=JobStatus.DEAD, attempts=1, last_error="channel_not_found")
        rows.append(values)
    for index in range(0, len(rows), 1000):  # short transactions: the app's deadlines
        with database.session() as session:
            session.execute(insert(JobRow), rows[index:index + 1000])


def timed(client, path: str) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(REQUESTS):
        began = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - began) * 1000)
        assert response.status_code in (200, 503), response.status_code
    return median(times), percentile(times, 99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--done", default="0,10000,100000")
    parser.add_argument("--db", default="sqlite", choices=("sqlite", "postgres", "both"))
    args = parser.parse_args()
    header("GET /metrics and GET /healthz against a growing outbox")
    print(f"{'db':9} {'done jobs':>10} {'state':7} {'/metrics median/p99 ms':>24}"
          f" {'/healthz median/p99 ms':>24}")
    for kind in backends(args.db):
        for done in (int(n) for n in args.done.split(",")):
            for state, age, lately in (("moving", timedelta(seconds=10), True),
                                       ("late", timedelta(hours=1), True),
                                       ("stuck", timedelta(hours=1), False)):
                with scratch("scrape-") as work, fresh_database(kind, work) as url:
                    config = Config(database_url=url, delivery_threads=0,
                                    delivery_stuck_after=timedelta(minutes=5))
                    app = create_app(config)
                    fill(services(app).database, done, age, lately)
                    client = app.test_client()
                    metrics = timed(client, "/metrics")
                    health = timed(client, "/healthz")
                    services(app).database.dispose()
                print(f"{kind:9} {done:>10} {state:7} {metrics[0]:>11.1f} / {metrics[1]:<10.1f}"
                      f" {health[0]:>11.1f} / {health[1]:<10.1f}")


if __name__ == "__main__":
    main()
