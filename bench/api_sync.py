"""The ThousandEyes API sync over 10,000 active alerts: its time and memory, and the
webhooks' latency while it runs, side by side with the sync off.

Each round starts ``python -m bot serve`` twice on a fresh database seeded with the same
open alerts (as webhooks would have left them, parents posted): once linked to a fake
ThousandEyes API v7 on loopback (``THOUSANDEYES_API_TOKEN``), once not. The API lists
``--alerts`` active alerts: all but ``--missed`` of them are the seeded ones (matched, no
change), ``--missed`` came by no webhook (posted), and ``--lost`` seeded alerts are
listed cleared (their clears confirmed). The sync's first call is held until the
webhook load runs, then released: "sync" is from that release to the run's end as the
database records it. Two clients post new alerts the whole time (closed loop); the same
load runs for the same time with the sync off. Memory is the RSS of gunicorn's master and
worker, sampled every 50 ms: the peak during the window minus the RSS before it; CPU is
the service's (master and worker) over the window, the load's webhooks included.

Slack is log-only (no bot token): what is measured is the sync and ingest, not Slack.

    python bench/api_sync.py [--alerts 10000] [--db sqlite|postgres] [--rounds 1]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import insert, select  # noqa: E402

from _common import (  # noqa: E402
    KeepAliveClient,
    Serve,
    WEBHOOK_TOKEN,
    encode,
    fresh_database,
    header,
    percentile,
    scratch,
    unique_trigger,
    webhook_headers,
)
from bot.store.database import Database  # noqa: E402
from bot.store.models import AlertRow, AlertState, ThousandEyesSyncRow  # noqa: E402
from tests.support.fake_thousandeyes import TOKEN, FakeThousandEyes, Operation  # noqa: E402
from tests.support.thousandeyes_account import Account, agent  # noqa: E402

UTC = timezone.utc
CLIENTS = 2


def seed(url: str, account: Account, alerts: int, missed: int, lost: int) -> None:
    """Open alerts in the database and the API's view of them."""
    test = account.add_test("api.example.com", "http-server")
    rule = account.add_rule("Default HTTP Alert Rule", "http-server", tests=[test])
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    rows = []
    for number in range(alerts + lost):
        began = start + timedelta(seconds=number % 3600)
        listed = account.add_alert(rule, test, [agent("Frankfurt, Germany")], started_at=began)
        if number >= alerts:
            account.clear(listed, at=datetime.now(UTC) - timedelta(minutes=1))
        if alerts - missed <= number < alerts:
            continue  # no webhook brought it
        rows.append(dict(
            route="default", channel="", kind="test", alert_key=listed.alert_id,
            state=AlertState.TRIGGERED, rule_name=rule.name, title=test.name,
            severity="MAJOR", permalink="", event_type="ALERT_NOTIFICATION_TRIGGER",
            first_seen_at=began, last_event_at=began, triggered_at=began, trigger_count=1,
            subject_key=f"rule:{rule.rule_id}|test:{test.test_id}",
            slack_channel="C0ALERTS", slack_ts=f"{1700000000 + number}.000100",
            data={"alertId": listed.alert_id, "ruleId": int(rule.rule_id),
                  "ruleName": rule.name, "testId": int(test.test_id), "testName": test.name,
                  "type": "HTTP Server", "severity": "MAJOR",
                  "dateStart": began.strftime("%Y-%m-%d %H:%M:%S"),
                  "agents": [{"agentId": 4001, "agentName": "Frankfurt, Germany",
                              "metricsAtStart": "Error Type: Connect", "active": 1}]}))
    database = Database(url)
    database.upgrade()
    with database.session() as session:
        for chunk in range(0, len(rows), 1000):
            session.execute(insert(AlertRow.__table__), rows[chunk:chunk + 1000])
    database.dispose()


class Load:
    """Closed-loop webhook clients, each latency recorded with when it was sent."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.samples: list[tuple[float, float]] = []  # (sent at, seconds)
        self.failures = 0
        self._stop = threading.Event()
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._client, daemon=True)
                         for _ in range(CLIENTS)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def between(self, begin: float, end: float) -> list[float]:
        with self._lock:
            return [took for sent, took in self.samples if begin <= sent <= end]

    def _client(self) -> None:
        client = KeepAliveClient(self.url)
        headers = webhook_headers()
        while not self._stop.is_set():
            with self._lock:
                number = next(self._numbers)
            body = encode(unique_trigger(f"load-{uuid.uuid4().hex[:6]}", number))
            sent = time.monotonic()
            status, _ = client.post(Serve.path, body, headers)
            took = time.monotonic() - sent
            with self._lock:
                if status == 200:
                    self.samples.append((sent, took))
                else:
                    self.failures += 1
        client.close()


class Memory:
    """The RSS of the service's processes, sampled until stopped."""

    def __init__(self, serve: Serve) -> None:
        self.serve = serve
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def now(self) -> int:
        return sum(self.serve.rss_kib().values())

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.now())
            time.sleep(0.05)


def sync_finished(url: str) -> datetime | None:
    database = Database(url)
    try:
        with database.session() as session:
            row = session.scalars(select(ThousandEyesSyncRow)).first()
            return row.last_run_at if row is not None and row.state != "pending" else None
    finally:
        database.dispose()


def run_once(kind: str, work: Path, args: argparse.Namespace, linked: bool,
             window: float | None) -> dict[str, float]:
    fake = FakeThousandEyes(rate_limit=10_000).start()
    try:
        with fresh_database(kind, work / ("on" if linked else "off")) as url:
            seed(url, fake.account, args.alerts, args.missed, args.lost)
            env = dict(DATABASE_URL=url, WEBHOOK_TOKEN=WEBHOOK_TOKEN, LOG_LEVEL="WARNING")
            if linked:
                env.update(THOUSANDEYES_API_TOKEN=TOKEN, THOUSANDEYES_API_URL=fake.url)
                fake.stall(Operation.GET_ALERTS)  # held until the load runs
            serve = Serve(work, "on" if linked else "off", **env).wait_healthy()
            try:
                load, memory = Load(serve.url), Memory(serve)
                before = memory.now()
                cpu_before = serve.cpu_seconds()
                load.start()
                memory.start()
                time.sleep(1.0)  # the load is running
                began_wall, began = datetime.now(UTC), time.monotonic()
                if linked:
                    fake.release()
                    deadline = began + 600
                    while (ended := sync_finished(url)) is None and time.monotonic() < deadline:
                        time.sleep(0.05)
                    assert ended is not None, "the sync did not finish in 10 minutes"
                    took = (ended - began_wall).total_seconds()
                else:
                    time.sleep(window or 1.0)
                    took = window or 1.0
                end = began + took
                cpu = serve.cpu_seconds() - cpu_before
                memory.stop()
                load.stop()
                latencies = load.between(began, end)
                return {"seconds": took, "rss_before_mib": before / 1024,
                        "rss_peak_delta_mib": (memory.peak - before) / 1024,
                        "webhooks": len(latencies), "failures": load.failures,
                        "p50_ms": percentile(latencies, 50) * 1000,
                        "p99_ms": percentile(latencies, 99) * 1000,
                        "max_ms": max(latencies, default=float("nan")) * 1000,
                        "api_calls": len(fake.calls), "cpu_s": cpu}
            finally:
                serve.stop()
    finally:
        fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--missed", type=int, default=100)
    parser.add_argument("--lost", type=int, default=100)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    header(f"ThousandEyes API sync over {args.alerts} active alerts ({args.missed} missed,"
           f" {args.lost} lost clears), {args.db}, {CLIENTS} webhook clients")
    print("round  sync  seconds  rss-before MiB  rss-peak +MiB  webhooks  p50 ms  p99 ms"
          "  max ms  failures  api calls  service CPU s")
    with scratch("bench-api-sync-") as work:
        for number in range(1, args.rounds + 1):
            on = run_once(args.db, work / f"r{number}", args, True, None)
            off = run_once(args.db, work / f"r{number}", args, False, on["seconds"])
            for name, result in (("on", on), ("off", off)):
                print(f"{number:>5}  {name:>4}  {result['seconds']:7.2f}  "
                      f"{result['rss_before_mib']:14.1f}  {result['rss_peak_delta_mib']:13.1f}  "
                      f"{result['webhooks']:8d}  {result['p50_ms']:6.1f}  "
                      f"{result['p99_ms']:6.1f}  {result['max_ms']:6.1f}  "
                      f"{result['failures']:8d}  {result['api_calls']:9d}  "
                      f"{result['cpu_s']:13.1f}")
                sys.stdout.flush()


if __name__ == "__main__":
    main()
