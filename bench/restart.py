"""Recovery after ``kill -9``: time until everything is delivered once serve restarts.

    python bench/restart.py [--rounds 3] [--alerts 30] [--db sqlite|postgres]

Each round: ``python -m bot serve`` (fake Slack, no rate limit, SLACK_POST_INTERVAL=0,
DELIVERY_THREADS=3) gets ``--alerts`` triggers and clears; once about half of the posts
are made, the master, its gunicorn worker and the worker's delivery process are killed
with SIGKILL (a crashed container) and serve is started again on the same database,
either at once ("immediate") or once the killed processes have been reaped by PID 1
("after reap"). Reported per round:
seconds from the restart to the last needed Slack call, messages posted twice, and
whether the restarted process had to wait out a job lease (its log says "lease of").

The two variants differ only in how soon the restart comes. Until PID 1 reaps it, the
killed worker is a zombie, which ``os.kill(pid, 0)`` reports alive, so a restart in that
window leaves the dead worker's jobs to the lease instead of requeueing them.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections import Counter
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
    median,
    scratch,
    unique_clear,
    unique_trigger,
    webhook_headers,
)
from tests.support.fake_slack import FakeSlack  # noqa: E402

CHANNEL = "C0RESTART"


def state(fake: FakeSlack, alerts: int, tag: str) -> tuple[bool, int]:
    """(every alert has a cleared parent with a reply, messages posted twice)."""
    names = {f"bench test {tag}-{n:04d}": n for n in range(alerts)}
    parents: Counter = Counter()
    replies: Counter = Counter()
    cleared = set()
    for message in fake.top_level(CHANNEL):
        body = message.text + str(message.blocks)
        number = next((n for name, n in names.items() if name in body), None)
        if number is None:
            continue
        parents[number] += 1
        thread = fake.thread(message)
        replies[number] += len(thread)
        if "cleared" in message.text.lower() and thread:
            cleared.add(number)
    duplicates = sum(c - 1 for c in parents.values() if c > 1) + sum(
        c - 1 for c in replies.values() if c > 1)
    return len(cleared) == alerts, duplicates


def one_round(args: argparse.Namespace, immediate: bool, work: Path) -> dict:
    fake = FakeSlack().start()
    fake.add_channel(CHANNEL, "restart")
    tag = f"r{time.time_ns()}"
    with fresh_database(args.db, work / f"db-{tag}", args.pg_url) as url:
        env = dict(DATABASE_URL=url, WEBHOOK_TOKEN=WEBHOOK_TOKEN, SLACK_BOT_TOKEN="xoxb-restart",
                   SLACK_API_URL=fake.url, SLACK_CHANNEL=CHANNEL, SLACK_POST_INTERVAL="0",
                   DELIVERY_THREADS="3")
        first = Serve(work, f"first-{tag}", **env).wait_healthy()
        client = KeepAliveClient(first.url)
        for number in range(args.alerts):
            for payload in (unique_trigger(tag, number), unique_clear(tag, number)):
                payload["alert"]["testName"] = f"bench test {tag}-{number:04d}"
                client.post("/webhooks/thousandeyes", encode(payload), webhook_headers())
        client.close()
        deadline = time.monotonic() + 60
        while (len(fake.calls_to("chat.postMessage", ok_only=True)) < args.alerts
               and time.monotonic() < deadline):
            time.sleep(0.005)
        group = [first.pid, *first.descendant_pids()]
        os.killpg(first.pid, signal.SIGKILL)
        first.process.process.wait(10)
        killed_at = time.monotonic()
        if not immediate:
            while any(Path(f"/proc/{pid}").exists() for pid in group):
                time.sleep(0.02)
        zombie = any(_is_zombie(pid) for pid in group)
        second = Serve(work, f"second-{tag}", **env)
        restarted = time.monotonic()
        second.wait_healthy()
        done, duplicates = False, 0
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            done, duplicates = state(fake, args.alerts, tag)
            if done:
                break
            time.sleep(0.1)
        last = max(c.at for c in fake.calls if c.status == 200 and c.error is None)
        time.sleep(1.0)
        done, duplicates = state(fake, args.alerts, tag)
        log = second.log()
        second.stop()
        engine = create_engine(url)
        with engine.connect() as connection:
            jobs = dict(connection.execute(text(
                "SELECT status, count(*) FROM outbox_jobs GROUP BY status")).all())
        engine.dispose()
    fake.stop()
    return {"seconds": last - restarted, "done": done, "duplicates": duplicates,
            "lease": "lease of" in log, "zombie_at_restart": zombie,
            "reap_wait": restarted - killed_at, "jobs": jobs,
            "waited": time.monotonic() - restarted}


def _is_zombie(pid: int) -> bool:
    try:
        return "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--alerts", type=int, default=30)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--timeout", type=float, default=200.0,
                        help="give up waiting for delivery after this many seconds")
    args = parser.parse_args()
    header("bench/restart.py: delivery after kill -9 and a restart")
    print(f"# alerts={args.alerts} (trigger + clear each), rounds={args.rounds}, db={args.db}")
    results: dict[str, list[dict]] = {"immediate": [], "after reap": []}
    with scratch("bench-restart-") as work:
        for round_number in range(args.rounds):
            for variant in results:
                result = one_round(args, variant == "immediate", work)
                results[variant].append(result)
                print(f"  round {round_number + 1} {variant:10}: everything delivered "
                      f"{result['seconds']:6.1f} s after the restart "
                      f"({'complete' if result['done'] else 'INCOMPLETE'}), posted twice "
                      f"{result['duplicates']}, waited for a lease: "
                      f"{'yes' if result['lease'] else 'no'}, killed worker still a zombie "
                      f"at restart: {'yes' if result['zombie_at_restart'] else 'no'} "
                      f"(restart {result['reap_wait']:.2f} s after the kill); jobs "
                      f"{result['jobs']}", flush=True)
    print("\n## medians")
    for variant, rounds in results.items():
        print(f"{variant:10}: {median([r['seconds'] for r in rounds]):6.1f} s to deliver "
              f"everything after the restart; duplicates {sum(r['duplicates'] for r in rounds)} "
              f"in {len(rounds)} rounds; lease waits {sum(r['lease'] for r in rounds)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
