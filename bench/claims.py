"""What one claim costs as the backlog grows, this revision and an earlier one.

    python bench/claims.py [--backlogs 100,1000,10000] [--db sqlite|postgres] [--baseline REV]

In one process per revision (its ``bot`` package on ``sys.path``): a fresh database gets
a backlog of pending alert jobs over 20 channels, then ``bot.outbox.queue.claim_next``
is timed (median and p99 of wall time and the process's CPU) in two states:

- claimable: every channel may post, so each claim takes a job;
- nothing claimable: every channel waits for its next post slot (the state of a storm
  between two slots, when an idle thread or a woken one claims and finds nothing).

Target: neither grows with the backlog.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    DEFAULT_PG_URL, REPO, baseline_checkout, fresh_database, header, scratch,
)

CHANNELS = 20
CLAIMS = 200

# Runs in a child process whose sys.path starts with the revision's checkout.
_MEASURE = r"""
import json, statistics, sys, time
from datetime import timedelta
from sqlalchemy import insert, update
from bot.db.database import Database
from bot.outbox import enqueue as jobs
from bot.db.models import JobRow
from bot.outbox import queue
from bot.clock import utcnow

url, backlog, channels, claims = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
db = Database(url)
db.upgrade()
now = utcnow()
names = [f"C0CLAIM{i:03d}" for i in range(channels)]
with db.session() as session:
    connection = session.connection()
    for number in range(backlog):
        values = jobs.job_values(kind="alert_trigger", alert_id=None, channel=names[number % channels], now=now)
        connection.execute(insert(JobRow.__table__), values)
        if number < channels and hasattr(jobs, "mark_lane_ready"):
            jobs.mark_lane_ready(connection, values)
lease = timedelta(seconds=60)
new_api = hasattr(queue, "Claim")

def claim(paced):
    if new_api:
        return queue.claim_next(db, "bench", utcnow(), lease, 1.0).job
    return queue.claim_next(db, "bench", utcnow(), lease, paced_channels=names if paced else ())

def hold_every_channel():
    if new_api:
        from bot.db.models import DeliveryLaneRow
        with db.session() as session:
            session.execute(update(DeliveryLaneRow).values(next_post_at=utcnow() + timedelta(hours=1)))

def timed(paced):
    walls, cpus = [], []
    for _ in range(claims if paced else min(claims, backlog // 2)):
        wall, cpu = time.perf_counter(), time.process_time()
        job = claim(paced)
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
        assert (job is None) == paced, "unexpected claim result"
        if job is not None and new_api:
            # free the lane again, as the post's answer would (without pacing it)
            with db.session() as session:
                from bot.db.models import DeliveryLaneRow
                session.execute(update(DeliveryLaneRow).values(held_by=None, held_until=None))
    walls.sort()
    return {"median_ms": statistics.median(walls), "p99_ms": walls[int(len(walls) * 0.99) - 1],
            "cpu_ms": statistics.mean(cpus)}

claimable = timed(False)
hold_every_channel()
print(json.dumps({"claimable": claimable, "nothing": timed(True)}))
db.dispose()
"""


def measure(code: Path, url: str, backlog: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code)}
    result = subprocess.run([sys.executable, "-c", _MEASURE, url, str(backlog), str(CHANNELS),
                             str(CLAIMS)], env=env, capture_output=True, text=True, timeout=600,
                            cwd=tempfile.gettempdir())
    if result.returncode != 0:
        raise SystemExit(f"measuring {code} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backlogs", default="100,1000,10000")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--baseline", metavar="REV", help="also measure this git revision")
    args = parser.parse_args()
    backlogs = [int(b) for b in args.backlogs.split(",") if b]
    header("bench/claims.py: the cost of one claim against the backlog")
    print(f"# db={args.db}, {CHANNELS} channels, {CLAIMS} claims per state; wall median / p99,"
          f" mean CPU of the claiming process")
    with scratch("bench-claims-") as work:
        with baseline_checkout(args.baseline, work) as baseline:
            codes = [("new", REPO)] + ([(f"@{args.baseline}", baseline)] if baseline else [])
            for backlog in backlogs:
                for name, code in codes:
                    with fresh_database(args.db, work / f"db-{name}-{backlog}", args.pg_url) as url:
                        figures = measure(code, url, backlog)
                    cells = "   ".join(
                        f"{state}: {f['median_ms']:6.2f} / {f['p99_ms']:6.2f} ms, CPU {f['cpu_ms']:5.2f} ms"
                        for state, f in figures.items())
                    print(f"  backlog {backlog:>6}  {name:10} {cells}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
