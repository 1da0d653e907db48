"""The ThousandEyes API sync over 10,000 active alerts: its time and memory, and the
webhooks' latency while it runs, side by side with the sync off.

Each round starts ``python -m bot serve`` twice on a fresh database seeded with the same
open alerts (as webhooks would have left them, parents posted): once linked to a fake
ThousandEyes API v7 on loopback (``THOUSANDEYES_API_TOKEN``), once not. The API lists
``--alerts`` active alerts: all but ``--missed`` of them are the seeded ones (matched, no
change), ``--missed`` came by no webhook (posted), and ``--lost`` seeded alerts are
listed cleared (their clears confirmed). The sync's first call is held until the
webhook load runs, then released (the fake runs in a process of its own, so its JSON work
does not slow the load's clients): "sync" is from that release to the run's end as the
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
import json
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import create_engine, insert, select  # noqa: E402

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
from bot.config import normalise_database_url  # noqa: E402
from bot.db.database import Database  # noqa: E402
from bot.db.models import AlertRow, AlertState, ThousandEyesSyncRow  # noqa: E402
from tests.support.fake_thousandeyes import TOKEN, FakeThousandEyes, Operation  # noqa: E402
from tests.support.thousandeyes_account import Account, agent  # noqa: E402

UTC = timezone.utc
CLIENTS = 2


def seed_account(account: Account, alerts: int, missed: int, lost: int) -> list[dict]:
    """The API's alerts; returns those a webhook brought (to store as open alerts)."""
    test = account.add_test("api.example.com", "http-server")
    rule = account.add_rule("Default HTTP Alert Rule", "http-server", tests=[test])
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    brought = []
    for number in range(alerts + lost):
        began = start + timedelta(seconds=number % 3600)
        listed = account.add_alert(rule, test, [agent("Frankfurt, Germany")], started_at=began)
        if number >= alerts:
            account.clear(listed, at=datetime.now(UTC) - timedelta(minutes=1))
        if alerts - missed <= number < alerts:
            continue  # no webhook brought it
        brought.append({"alert_id": listed.alert_id, "began": began.isoformat(),
                        "rule_id": rule.rule_id, "rule": rule.name, "test_id": test.test_id,
                        "test": test.name, "number": number})
    return brought


def seed_database(url: str, brought: list[dict]) -> None:
    """The open alerts the webhooks left, parents posted."""
    rows = []
    for alert in brought:
        began = datetime.fromisoformat(alert["began"])
        rows.append(dict(
            route="default", channel="", kind="test", alert_key=alert["alert_id"],
            state=AlertState.TRIGGERED, rule_name=alert["rule"], title=alert["test"],
            severity="MAJOR", permalink="", event_type="ALERT_NOTIFICATION_TRIGGER",
            first_seen_at=began, last_event_at=began, triggered_at=began, trigger_count=1,
            subject_key=f"rule:{alert['rule_id']}|test:{alert['test_id']}",
            slack_channel="C0ALERTS", slack_ts=f"{1700000000 + alert['number']}.000100",
            data={"alertId": alert["alert_id"], "ruleId": int(alert["rule_id"]),
                  "ruleName": alert["rule"], "testId": int(alert["test_id"]),
                  "testName": alert["test"], "type": "HTTP Server", "severity": "MAJOR",
                  "dateStart": began.strftime("%Y-%m-%d %H:%M:%S"),
                  "agents": [{"agentId": 4001, "agentName": "Frankfurt, Germany",
                              "metricsAtStart": "Error Type: Connect", "active": 1}]}))
    database = Database(url)
    database.upgrade()
    with database.session() as session:
        for chunk in range(0, len(rows), 1000):
            session.execute(insert(AlertRow.__table__), rows[chunk:chunk + 1000])
    database.dispose()


def serve_fake(args: argparse.Namespace) -> None:
    """``--serve-fake FILE``: the fake API in a process of its own (its JSON work must
    not slow the load's clients down), seeded, holding its first call; it writes its URL
    and the alerts webhooks brought to FILE, then obeys stdin: ``release``, ``calls``."""
    fake = FakeThousandEyes(rate_limit=10_000).start()
    brought = seed_account(fake.account, args.alerts, args.missed, args.lost)
    fake.stall(Operation.GET_ALERTS)
    Path(args.serve_fake).write_text(json.dumps({"url": fake.url, "brought": brought}))
    for line in sys.stdin:
        if line.strip() == "release":
            fake.release()
        elif line.strip() == "calls":
            print(len(fake.calls), flush=True)
    fake.stop()


class FakeApi:
    """The fake API's process, driven through its stdin."""

    def __init__(self, work: Path, args: argparse.Namespace) -> None:
        ready = work / "fake-api.json"
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve-fake", str(ready), "--alerts", str(args.alerts),
             "--missed", str(args.missed), "--lost", str(args.lost)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.2)  # written in one call; let it land
        found = json.loads(ready.read_text())
        self.url, self.brought = found["url"], found["brought"]

    def tell(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def calls(self) -> int:
        self.tell("calls")
        assert self.process.stdout is not None
        return int(self.process.stdout.readline())

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(30)


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


class SyncWatch:
    """Reads the sync's row as a plain reader, five times a second, in both runs alike: a
    reader takes no write lock (SQLite WAL, PostgreSQL), so the watch costs the service's
    webhooks nothing that would differ between the runs."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(normalise_database_url(url))
        self.table = ThousandEyesSyncRow.__table__

    def finished(self) -> datetime | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(self.table.c.state, self.table.c.last_run_at)).first()
        if row is None or row.state == "pending" or row.last_run_at is None:
            return None
        ended = row.last_run_at
        return ended if ended.tzinfo else ended.replace(tzinfo=UTC)

    def wait(self, until: float) -> datetime | None:
        """The end of the first run, or None when ``until`` (monotonic) came first."""
        while time.monotonic() < until:
            ended = self.finished()
            if ended is not None:
                return ended
            time.sleep(0.2)
        return None

    def close(self) -> None:
        self.engine.dispose()


def run_once(kind: str, work: Path, args: argparse.Namespace, linked: bool,
             window: float | None) -> dict[str, float]:
    work.mkdir(parents=True, exist_ok=True)
    fake = FakeApi(work, args)
    try:
        with fresh_database(kind, work / ("on" if linked else "off")) as url:
            seed_database(url, fake.brought)
            env = dict(DATABASE_URL=url, WEBHOOK_TOKEN=WEBHOOK_TOKEN, LOG_LEVEL="WARNING")
            if linked:
                env.update(THOUSANDEYES_API_TOKEN=TOKEN, THOUSANDEYES_API_URL=fake.url)
            serve = Serve(work, "on" if linked else "off", **env).wait_healthy()
            try:
                load, memory = Load(serve.url), Memory(serve)
                before = memory.now()
                cpu_before = serve.cpu_seconds()
                load.start()
                memory.start()
                time.sleep(1.0)  # the load is running
                began_wall, began = datetime.now(UTC), time.monotonic()
                watch = SyncWatch(url)
                if linked:
                    fake.tell("release")
                    ended = watch.wait(began + 600)
                    assert ended is not None, "the sync did not finish in 10 minutes"
                    took = (ended - began_wall).total_seconds()
                else:
                    took = window or 1.0
                    assert watch.wait(began + took) is None  # the same reads, no sync
                watch.close()
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
                        "api_calls": fake.calls(), "cpu_s": cpu}
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
    parser.add_argument("--serve-fake", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake:
        serve_fake(args)
        return
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
