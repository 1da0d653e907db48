"""Resident memory of ``python -m bot serve`` (gunicorn master + worker) over 10,000 events.

    python bench/memory.py [--events 10000] [--slack log|fake] [--db sqlite|postgres]
                           [--clients 8] [--channels 10]

The service runs as users run it, with delivery on (DELIVERY_THREADS=4): either without
a Slack token (messages rendered and written to the log) or against a fake Slack Web API
with no rate limit. SLACK_POST_INTERVAL=0 so delivery keeps up and every event is
rendered and delivered within the run. Events are alerts as ThousandEyes sends them:
a trigger, then its clear (events/2 alerts) spread over ``--channels`` channels.

RSS (VmRSS from /proc/<pid>/status) of the master and the worker is sampled before the
first event, after every tenth of the events, once the outbox is drained, and after
``--idle`` seconds idle. Target: master + worker < 150 MB after 10,000 events. The
summed RSS counts the pages the worker shares with the master (gunicorn forks after
loading the app) twice, so PSS (each shared page split between its sharers) is printed
beside it as the memory the service really holds.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import create_engine, text  # noqa: E402

from _common import (  # noqa: E402
    DEFAULT_PG_URL,
    WEBHOOK_TOKEN,
    KeepAliveClient,
    Serve,
    encode,
    fresh_database,
    header,
    scratch,
    smaps_of,
    unique_clear,
    unique_trigger,
    webhook_headers,
)
from tests.support.fake_slack import FakeSlack  # noqa: E402

TARGET_MB = 150.0


def open_jobs(engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(
            "SELECT count(*) FROM outbox_jobs WHERE status IN ('pending', 'running')"
        )).scalar_one())


def dead_jobs(engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(
            "SELECT count(*) FROM outbox_jobs WHERE status = 'dead'")).scalar_one())


def describe(serve: Serve) -> tuple[float, str]:
    total, _pss, line = measure(serve)
    return total, line


def measure(serve: Serve) -> tuple[float, float, str]:
    """(RSS of master + workers in MB, a line with RSS, and PSS for the shared pages)."""
    rss = serve.rss_kib()
    master = rss.get(serve.pid, 0)
    workers = [kib for pid, kib in rss.items() if pid != serve.pid]
    total = sum(rss.values()) / 1024
    pss = sum(smaps_of(pid).get("pss", 0) for pid in rss) / 1024
    return total, pss, (f"RSS master {master / 1024:5.1f} + worker "
                   f"{' + '.join(f'{w / 1024:5.1f}' for w in workers)} = {total:6.1f} MB"
                   f" (PSS {pss:5.1f} MB)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--slack", choices=["log", "fake"], default="log")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--channels", type=int, default=10)
    parser.add_argument("--idle", type=float, default=5.0)
    parser.add_argument("--drain-timeout", type=float, default=600.0)
    args = parser.parse_args()
    alerts = args.events // 2

    header("bench/memory.py: RSS of python -m bot serve (master + worker)")
    print(f"# events={alerts * 2} ({alerts} alerts: trigger + clear), slack={args.slack}, "
          f"db={args.db}, DELIVERY_THREADS=4, SLACK_POST_INTERVAL=0, clients={args.clients}, "
          f"channels={args.channels}")
    channels = [f"C0MEM{index:04d}" for index in range(args.channels)]
    fake = None
    slack_env: dict[str, str] = {}
    if args.slack == "fake":
        fake = FakeSlack().start()
        for index, channel in enumerate(channels):
            fake.add_channel(channel, f"mem-{index}")
        slack_env = {"SLACK_BOT_TOKEN": "xoxb-bench-memory", "SLACK_API_URL": fake.url}

    with scratch("bench-memory-") as work, \
            fresh_database(args.db, work / "db", args.pg_url) as url:
        engine = create_engine(url)
        serve = Serve(work, "serve", DATABASE_URL=url, WEBHOOK_TOKEN=WEBHOOK_TOKEN,
                      DELIVERY_THREADS="4", SLACK_POST_INTERVAL="0",
                      SLACK_CHANNEL=channels[0], **slack_env)
        try:
            serve.wait_healthy()
            time.sleep(1.0)
            start_total, line = describe(serve)
            print(f"before any event:        {line}", flush=True)

            counter = itertools.count()
            sent = [0]
            failures = [0]
            lock = threading.Lock()
            checkpoints = [round(alerts * (i + 1) / 10) for i in range(10)]
            tag = f"mem{time.time_ns()}"
            began = time.monotonic()

            def client() -> None:
                connection = KeepAliveClient(serve.url)
                while True:
                    number = next(counter)
                    if number >= alerts:
                        break
                    path = f"/webhooks/thousandeyes?channel={channels[number % len(channels)]}"
                    for payload in (unique_trigger(tag, number), unique_clear(tag, number)):
                        status, _ = connection.post(path, encode(payload), webhook_headers())
                        with lock:
                            sent[0] += 1
                            failures[0] += status != 200
                connection.close()

            threads = [threading.Thread(target=client, daemon=True) for _ in range(args.clients)]
            for thread in threads:
                thread.start()
            reported = 0
            peak = start_total
            while any(t.is_alive() for t in threads):
                time.sleep(0.2)
                total, line = describe(serve)
                peak = max(peak, total)
                while reported < len(checkpoints) and sent[0] >= 2 * checkpoints[reported]:
                    print(f"after {sent[0]:6d} events:    {line}   open jobs {open_jobs(engine)}",
                          flush=True)
                    reported += 1
            ingest_seconds = time.monotonic() - began
            after_events, line = describe(serve)
            print(f"all {sent[0]} events sent in {ingest_seconds:.0f} s "
                  f"({sent[0] / ingest_seconds:.0f}/s), non-200: {failures[0]}")
            print(f"after {sent[0]} events:    {line}   open jobs {open_jobs(engine)}", flush=True)

            deadline = time.monotonic() + args.drain_timeout
            while open_jobs(engine) and time.monotonic() < deadline:
                time.sleep(1.0)
                peak = max(peak, describe(serve)[0])
            remaining = open_jobs(engine)
            drained, line = describe(serve)
            print(f"outbox drained in {time.monotonic() - began:.0f} s since the first event "
                  f"(open {remaining}, dead {dead_jobs(engine)}): {line}", flush=True)
            time.sleep(args.idle)
            idle, idle_pss, line = measure(serve)
            print(f"after {args.idle:g} s idle:         {line}")
            log = serve.log()
        finally:
            serve.stop()
            engine.dispose()
            if fake is not None:
                fake.stop()

    print("\n## result")
    print(f"RSS master+worker: start {start_total:.1f} MB, after {sent[0]} events "
          f"{after_events:.1f} MB, drained {drained:.1f} MB, idle {idle:.1f} MB, "
          f"peak sampled {peak:.1f} MB; growth {after_events - start_total:+.1f} MB; "
          f"PSS idle {idle_pss:.1f} MB")
    verdict = "MET" if max(after_events, drained, idle) < TARGET_MB else "NOT MET"
    print(f"target < {TARGET_MB:g} MB after {sent[0]} events: {verdict}")
    if fake is not None:
        print(f"fake Slack calls: {len(fake.calls)}")
    print(f"service log: {log.count('log-only delivery')} log-only deliveries, "
          f"{log.count('Traceback')} tracebacks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
