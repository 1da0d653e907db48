"""RETENTION (issue 21): the database stays bounded, and webhooks do not wait for pruning.

    python bench/retention.py [--webhooks 100000] [--db sqlite|postgres] [--rate 100]
                              [--seconds 20] [--rounds 2]

1. ``--webhooks`` webhooks (a trigger and a clear per alert) stored two days ago: the rows
   ingest and delivery leave (the alert, both events with their bodies, the trigger, clear
   and parent-refresh jobs, delivered), written in bulk with timestamps two days back.
   Database size.
2. ``prune`` with ``RETENTION=1d`` (what ``python -m bot db prune`` and the workers run):
   rows removed, time taken, database size.
3. A second batch of as many webhooks, two days old too, and pruned: the size after it.
   Bounded means: no bigger than after the first batch (SQLite reuses its free pages,
   PostgreSQL after a plain ``VACUUM``, as autovacuum would run).
4. Webhook latency from a real ``python -m bot serve`` on loopback, open loop at
   ``--rate``/s (latency counted from each request's scheduled time), in rounds that
   alternate: without pruning, and while this process prunes a backlog of old webhooks
   non-stop (the worst case: a worker prunes 2 s every 10 minutes). p50/p99 side by side.

The service runs with ``DELIVERY_THREADS=0`` and ``RETENTION=off`` (the pruning is this
process's, so that it runs exactly when measured). Loopback only; stops by itself.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    DEFAULT_PG_URL,
    KeepAliveClient,
    Serve,
    encode,
    fresh_database,
    header,
    percentile,
    scratch,
    unique_clear,
    unique_trigger,
    webhook_headers,
    WEBHOOK_TOKEN,
)

from sqlalchemy import insert, text  # noqa: E402

from bot.clock import utcnow  # noqa: E402
from bot.db.database import Database  # noqa: E402
from bot.store.ingest import alert_payload  # noqa: E402
from bot.outbox.enqueue import job_values  # noqa: E402
from bot.db.models import AlertRow, AlertState, EventRow, JobKind, JobRow, JobStatus  # noqa: E402
from bot.store.pruning import Pruned, Retention, prune  # noqa: E402
from bot.thousandeyes import parse_event  # noqa: E402

RETENTION = Retention(timedelta(days=1))
CLOCK_MOVED = timedelta(days=2)
ALERTS_PER_FILL = 1000  # alerts written per transaction while filling


def fill(db: Database, tag: str, webhooks: int) -> float:
    """``webhooks`` events (a trigger and a clear per alert) as ingest and delivery leave
    them two days ago: the alert, both events with their bodies, the trigger, clear and
    parent-refresh jobs, delivered. Written in bulk (the load is not what is measured)."""
    began = time.monotonic()
    then = utcnow() - CLOCK_MOVED
    samples = {kind: maker("template", 0) for kind, maker in
               (("trigger", unique_trigger), ("clear", unique_clear))}
    bodies = {kind: encode(payload).decode() for kind, payload in samples.items()}
    clear_event = parse_event(samples["clear"])
    alert_data = alert_payload(clear_event)
    alerts_left = webhooks // 2
    number = 0
    while alerts_left > 0:
        count = min(ALERTS_PER_FILL, alerts_left)
        numbers = range(number, number + count)
        with db.session() as session:
            alert_ids = list(session.scalars(
                insert(AlertRow).returning(AlertRow.id, sort_by_parameter_order=True),
                [dict(route="default", channel="", kind="test", alert_key=f"{tag}-{n}",
                      state=AlertState.CLEARED, rule_name="Bench rule", title=f"bench test {n}",
                      severity="major", permalink="https://app.thousandeyes.com/alerts/list",
                      data=alert_data, event_type=clear_event.event_type, first_seen_at=then,
                      last_event_at=then, triggered_at=then, cleared_at=then, trigger_count=1,
                      slack_team=None, slack_channel="C0BENCH", slack_ts=f"1700000000.{n:06d}",
                      subject_key="bench")
                 for n in numbers]))
            events = [dict(route="default", channel="", event_id=f"{tag}-{kind}-{n}",
                           event_type=samples[kind]["eventType"], received_at=then,
                           payload=bodies[kind].replace("template-", f"{tag}-")
                           .replace("-0\"", f"-{n}\""),
                           body_hash=hashlib.sha256(f"{tag}-{kind}-{n}".encode()).hexdigest(),
                           alert_id=alert_id)
                      for n, alert_id in zip(numbers, alert_ids) for kind in ("trigger", "clear")]
            event_ids = list(session.scalars(
                insert(EventRow).returning(EventRow.id, sort_by_parameter_order=True), events))
            jobs = []
            for index, alert_id in enumerate(alert_ids):
                for kind, event_pk in ((JobKind.ALERT_TRIGGER, event_ids[2 * index]),
                                       (JobKind.ALERT_CLEAR, event_ids[2 * index + 1]),
                                       (JobKind.REFRESH_PARENT, None)):
                    job = job_values(kind=kind, alert_id=alert_id, channel="", now=then,
                                     event_pk=event_pk, default_channel="C0BENCH")
                    job.update(status=JobStatus.DONE, attempts=1, progress={})
                    jobs.append(job)
            session.execute(insert(JobRow), jobs)
        number += count
        alerts_left -= count
    return time.monotonic() - began


def size(db: Database) -> str:
    """The database's size: the file and the pages in use (SQLite), or the tables with
    their indexes and TOAST (PostgreSQL)."""
    if db.is_sqlite:
        pooled = db.engine.raw_connection()  # outside a transaction: a checkpoint needs that
        try:
            cursor = pooled.cursor()
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            page, pages, free = (cursor.execute(f"PRAGMA {name}").fetchone()[0]
                                 for name in ("page_size", "page_count", "freelist_count"))
        finally:
            pooled.close()
        return f"file {pages * page / 1e6:.1f} MB, in use {(pages - free) * page / 1e6:.1f} MB"
    with db.engine.connect() as connection:
        total = connection.execute(text(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relkind = 'r'")).scalar()
        return f"tables and indexes {int(total) / 1e6:.1f} MB"


def vacuum(db: Database) -> None:
    """PostgreSQL: what autovacuum does after many deletes (makes the space reusable)."""
    if db.is_sqlite:
        return
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM")


def timed_prune(db: Database, deadline: float | None = None,
                alone: bool = False) -> tuple[Pruned, float]:
    """``alone``: no webhook competes, so no pause between SQLite batches."""
    began = time.monotonic()
    pruned = prune(db, utcnow(), RETENTION, deadline=deadline,
                   pause=(lambda _seconds: None) if alone else time.sleep)
    return pruned, time.monotonic() - began


def send_open_loop(url: str, tag: str, rate: float, seconds: float,
                   senders: int = 8) -> list[float]:
    """Latencies (ms) of new alerts sent at ``rate``/s, each from its scheduled time."""
    total = int(rate * seconds)
    bodies = [encode(unique_trigger(tag, number)) for number in range(total)]
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    counter = itertools.count()
    start = time.perf_counter() + 0.2
    headers = webhook_headers()

    def run() -> None:
        client = KeepAliveClient(url)
        while (index := next(counter)) < total:
            scheduled = start + index / rate
            if (delay := scheduled - time.perf_counter()) > 0:
                time.sleep(delay)
            status, _ = client.post(Serve.path, bodies[index], headers)
            with lock:
                latencies.append((time.perf_counter() - scheduled) * 1000.0)
                failures[0] += status != 200
        client.close()

    threads = [threading.Thread(target=run, daemon=True) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
    if failures[0]:
        print(f"    {failures[0]} webhook(s) not answered 200")
    return latencies


def latency_rounds(db: Database, url: str, args: argparse.Namespace, work: Path) -> None:
    serve = Serve(work, "serve", DATABASE_URL=url, WEBHOOK_TOKEN=WEBHOOK_TOKEN,
                  DELIVERY_THREADS="0", RETENTION="off").wait_healthy()
    quiet: list[float] = []
    pruning: list[float] = []
    try:
        send_open_loop(serve.url, "warm", args.rate, 3)
        for round_number in range(args.rounds):
            quiet += send_open_loop(serve.url, f"quiet{round_number}", args.rate, args.seconds)
            backlog = fill(db, f"backlog{round_number}", args.backlog)
            window_end = time.monotonic() + args.seconds + 0.5
            result: list[tuple[Pruned, float]] = []
            pruner = threading.Thread(target=lambda: result.append(
                timed_prune(db, deadline=window_end)))
            pruner.start()
            pruning += send_open_loop(serve.url, f"pruning{round_number}", args.rate,
                                      args.seconds)
            pruner.join()
            pruned, took = result[0]
            print(f"  round {round_number + 1}: backlog of {args.backlog} webhooks filled in"
                  f" {backlog:.0f} s; the prune beside the webhooks removed {pruned.total}"
                  f" rows in {took:.1f} s ({'done' if pruned.complete else 'still going at the end'})")
            timed_prune(db, alone=True)  # the rest, between rounds
    finally:
        serve.stop()
    print(f"\n  webhook latency at {args.rate:g}/s, {len(quiet)} and {len(pruning)} requests:")
    print("  | | p50 ms | p99 ms | max ms |")
    print("  |---|---|---|---|")
    for name, values in (("without pruning", quiet), ("while pruning", pruning)):
        print(f"  | {name} | {percentile(values, 50):.1f} | {percentile(values, 99):.1f}"
              f" | {max(values):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--webhooks", type=int, default=100_000)
    parser.add_argument("--backlog", type=int, default=20_000,
                        help="old webhooks pruned during each latency round")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    header(f"retention: {args.webhooks} webhooks, RETENTION=1d, clock moved 2 days ({args.db})")
    with scratch("bench-retention-") as work, \
            fresh_database(args.db, work, args.pg_url) as url:
        db = Database(url)
        db.upgrade()
        try:
            took = fill(db, "first", args.webhooks)
            print(f"1. {args.webhooks} webhooks stored in {took:.0f} s: {size(db)}")
            pruned, took = timed_prune(db, alone=True)
            vacuum(db)
            print(f"2. pruned (alone: no pause between batches) in {took:.1f} s ({pruned.total / took:.0f} rows/s):"
                  f" {pruned.total} rows {pruned.by_table()}: {size(db)}")
            took = fill(db, "second", args.webhooks)
            print(f"3. a second {args.webhooks} webhooks, two days old too: {size(db)}")
            pruned, took = timed_prune(db, alone=True)
            vacuum(db)
            print(f"   pruned in {took:.1f} s: {pruned.total} rows: {size(db)}")
            print("4. webhooks with and without pruning running at the same time")
            latency_rounds(db, url, args, work)
            print(f"5. at the end (the latency rounds' recent webhooks are kept): {size(db)}")
        finally:
            db.dispose()


if __name__ == "__main__":
    main()
