"""Delivery throughput against the backlog (issue 24, item 4): Slack calls per second with
1,000 and with 100,000 jobs pending over 50 channels.

    python bench/backlog_rate.py [--backlogs 1000,100000] [--channels 50] [--db sqlite|postgres]
                                 [--warmup 4] [--window 10] [--rounds 1] [--storm-rollup on|off]
                                 [--profile-dir DIR]

Per backlog size and round, a fresh database is filled in bulk (the load is not what is
measured) with what ingest leaves for that many new alerts: the alert, its trigger event
and a pending trigger job, spread over ``--channels`` channels, each lane marked ready.
Then ``python -m bot serve`` starts as the README starts it (delivery on, its defaults,
so one post per second per channel: the pacing bound is ``--channels`` calls/s), posting
to a fake Slack without limits (``bench/_fake_slack.py``). After ``--warmup`` seconds the
jobs delivered (each one ``chat.postMessage``) and the serve process tree's CPU are
counted over ``--window`` seconds. The window must end before the smallest backlog drains
(1,000 jobs at 50 calls/s: 20 s). Loopback only; stops by itself.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    DEFAULT_PG_URL,
    REPO,
    WEBHOOK_TOKEN,
    Serve,
    fresh_database,
    header,
    median,
    scratch,
    unique_trigger,
)
from _targets import FakeSlackServer  # noqa: E402
from delivery_cpu import done_jobs  # noqa: E402

from sqlalchemy import insert  # noqa: E402

from bot.clock import utcnow  # noqa: E402
from bot.db.database import Database  # noqa: E402
from bot.db.models import AlertRow, AlertState, EventRow, JobKind, JobRow  # noqa: E402
from bot.outbox.enqueue import job_values, mark_lane_ready  # noqa: E402
from bot.store.ingest import alert_payload  # noqa: E402
from bot.thousandeyes import parse_event  # noqa: E402

HOOK = Path(__file__).resolve().parent / "_profile_hook"
ALERTS_PER_FILL = 2000  # alerts written per transaction while filling


def fill(url: str, backlog: int, channels: list[str]) -> float:
    """``backlog`` new alerts as ingest leaves them: alert, trigger event, pending job."""
    began = time.monotonic()
    db = Database(url)
    try:
        db.upgrade()
        now = utcnow()
        sample = unique_trigger("backlog", 0)
        event = parse_event(sample)
        data = alert_payload(event)
        lanes: dict[str, dict] = {}
        for start in range(0, backlog, ALERTS_PER_FILL):
            numbers = range(start, min(backlog, start + ALERTS_PER_FILL))
            with db.session() as session:
                alert_ids = list(session.scalars(
                    insert(AlertRow).returning(AlertRow.id, sort_by_parameter_order=True),
                    [dict(route="default", channel=channels[n % len(channels)], kind="test",
                          alert_key=f"backlog-{n}", state=AlertState.TRIGGERED,
                          rule_name="Bench rule", title=f"bench test {n}", severity="major",
                          permalink="https://app.thousandeyes.com/alerts/list", data=data,
                          event_type=event.event_type, first_seen_at=now, last_event_at=now,
                          triggered_at=now, cleared_at=None, trigger_count=1,
                          subject_key=f"bench-{n}")
                     for n in numbers]))
                event_ids = list(session.scalars(
                    insert(EventRow).returning(EventRow.id, sort_by_parameter_order=True),
                    [dict(route="default", channel=channels[n % len(channels)],
                          event_id=f"backlog-{n}", event_type=sample["eventType"],
                          received_at=now, payload="{}", body_hash=f"backlog-{n}",
                          alert_id=alert_id)
                     for n, alert_id in zip(numbers, alert_ids, strict=True)]))
                jobs = [job_values(kind=JobKind.ALERT_TRIGGER, alert_id=alert_id,
                                   channel=channels[n % len(channels)], now=now,
                                   event_pk=event_pk)
                        for n, alert_id, event_pk in zip(numbers, alert_ids, event_ids,
                                                         strict=True)]
                session.execute(insert(JobRow), jobs)
                for job in jobs:
                    lanes.setdefault(job["lane"], job)
        with db.session() as session:
            for job in lanes.values():
                mark_lane_ready(session.connection(), job)
        if not db.is_sqlite:
            with db.session() as session:
                session.connection().exec_driver_sql("ANALYZE")
    finally:
        db.dispose()
    return time.monotonic() - began


def measure(args: argparse.Namespace, work: Path, backlog: int, number: int) -> dict[str, float]:
    channels = [f"C0BL{index:03d}" for index in range(args.channels)]
    slack = FakeSlackServer(work / f"slack{number}", channels)
    try:
        slack.wait_healthy()
        with fresh_database(args.db, work / f"db{number}", args.pg_url) as url:
            filled = fill(url, backlog, channels)
            profiled: dict[str, str] = {} if args.storm_rollup == "on" else {"STORM_ROLLUP": "off"}
            if args.profile_dir:  # every thread under cProfile, one file each (a CPU clock)
                profiled |= dict(PYTHONPATH=f"{HOOK}{os.pathsep}{REPO}",
                                BENCH_PROFILE_DIR=str(Path(args.profile_dir) / f"{backlog}"))
                Path(profiled["BENCH_PROFILE_DIR"]).mkdir(parents=True, exist_ok=True)
            serve = Serve(work / "logs", f"backlog{number}", shipped=True, DATABASE_URL=url,
                          WEBHOOK_TOKEN=WEBHOOK_TOKEN, SLACK_BOT_TOKEN="xoxb-bench",
                          SLACK_CHANNEL=channels[0], SLACK_API_URL=slack.api_url, **profiled)
            try:
                serve.wait_healthy()
                time.sleep(args.warmup)
                load = os.getloadavg()[0]
                jobs_before, cpu_before = done_jobs(url), serve.cpu_seconds()
                began = time.monotonic()
                time.sleep(args.window)
                jobs_after, cpu_after = done_jobs(url), serve.cpu_seconds()
                seconds = time.monotonic() - began
            finally:
                serve.stop()
    finally:
        slack.stop()
    calls = jobs_after - jobs_before
    if jobs_after >= backlog:
        print(f"  warning: the {backlog} jobs drained inside the window; shorten --window")
    return {"filled": filled, "rate": calls / seconds, "cpu_ms": 1000 * (cpu_after - cpu_before)
            / max(1, calls), "load": load}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--backlogs", default="1000,100000")
    parser.add_argument("--channels", type=int, default=50)
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--storm-rollup", choices=["on", "off"], default="on",
                        help="on: as shipped (a channel's burst is rolled up); off: each alert"
                        " its own post (a labelled setting)")
    parser.add_argument("--profile-dir", help="profile serve's threads (cProfile, one file per"
                        " thread) into DIR/<backlog>/; the figures are then of a profiled run")
    args = parser.parse_args()
    backlogs = [int(size) for size in args.backlogs.split(",")]
    header("bench/backlog_rate.py: delivery calls/s against the backlog")
    print(f"# db={args.db} channels={args.channels} (pacing bound {args.channels} calls/s)"
          f" warmup={args.warmup}s window={args.window}s; serve: shipped settings,"
          " fake Slack without limits")
    rates: dict[int, list[float]] = {size: [] for size in backlogs}
    with scratch("backlog-rate-") as work:
        number = 0
        for round_number in range(1, args.rounds + 1):
            for size in backlogs:  # sizes alternate within a round: side by side
                number += 1
                got = measure(args, work, size, number)
                rates[size].append(got["rate"])
                print(f"  round {round_number} backlog {size}: filled in {got['filled']:.1f} s;"
                      f" {got['rate']:.1f} calls/s, {got['cpu_ms']:.2f} ms CPU per call"
                      f" (load {got['load']:.1f})", flush=True)
    smallest = median(rates[backlogs[0]])
    for size in backlogs:
        print(f"# backlog {size}: median {median(rates[size]):.1f} calls/s,"
              f" {median(rates[size]) / smallest:.2f}x of backlog {backlogs[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
