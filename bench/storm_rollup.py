"""Storm roll-ups against one-by-one delivery: N alerts into one channel at R posts/s.

    python bench/storm_rollup.py [--alerts 60 200] [--rate 1] [--db sqlite|postgres]
                                 [--threads 4]

For each N, the service runs twice as ``python -m bot serve`` against a fake Slack Web API
that answers 429 to posts closer than 1/R s in a channel (SLACK_POST_INTERVAL=1/R): once
with STORM_ROLLUP=on (the default), once with STORM_ROLLUP=off (one parent per alert, as
before roll-ups). N triggers are sent as fast as the service accepts them, all for one
channel.

Reported per run: the time from the first webhook until every alert is visible (its test
named in a top-level message, or in a page of the roll-up's thread), the top-level
messages, and Slack calls per alert (every Web API call the service made, over N).
Target (issue 14): 60 alerts visible within 15 s in at most 10 top-level messages.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    DEFAULT_PG_URL,
    WEBHOOK_TOKEN,
    KeepAliveClient,
    Serve,
    encode,
    fresh_database,
    header,
    scratch,
    unique_trigger,
    webhook_headers,
)
from tests.support.fake_slack import FakeSlack  # noqa: E402

CHANNEL = "C0ROLLUP1"


def name_of(number: int) -> str:
    return f"rollup-test-{number:05d}"


def text_of(message) -> str:
    return message.text + json.dumps(message.blocks, ensure_ascii=False)


def visible(fake: FakeSlack, alerts: int) -> set[int]:
    """The alerts whose test a user can read: in a top-level message, or in a thread page
    of a roll-up (a top-level message of the storm)."""
    shown: set[int] = set()
    for top in fake.top_level(CHANNEL):
        bodies = [text_of(top)]
        if top.text.startswith("🌩️"):
            bodies += [text_of(reply) for reply in fake.thread(top)]
        for body in bodies:
            shown |= {n for n in range(alerts) if name_of(n) in body}
    return shown


def run(alerts: int, rollup: bool, args: argparse.Namespace) -> dict:
    fake = FakeSlack(post_rate_limit=args.rate).start()
    fake.add_channel(CHANNEL, "rollup")
    interval = 1.0 / args.rate
    with scratch("bench-rollup-") as work, \
            fresh_database(args.db, work / "db", args.pg_url) as url:
        serve = Serve(work, "serve", DATABASE_URL=url, WEBHOOK_TOKEN=WEBHOOK_TOKEN,
                      SLACK_BOT_TOKEN="xoxb-bench-rollup", SLACK_API_URL=fake.url,
                      SLACK_CHANNEL=CHANNEL, SLACK_POST_INTERVAL=f"{interval:g}",
                      DELIVERY_THREADS=str(args.threads), SLACK_TIMEOUT="10",
                      STORM_ROLLUP="on" if rollup else "off")
        try:
            serve.wait_healthy()
            client = KeepAliveClient(serve.url)
            tag = f"rollup{time.time_ns()}"
            payloads = []
            for number in range(alerts):
                payload = unique_trigger(tag, number)
                payload["alert"]["testName"] = name_of(number)
                payloads.append(payload)
            started = time.monotonic()
            for payload in payloads:
                status, _ = client.post(f"/webhooks/thousandeyes?channel={CHANNEL}",
                                        encode(payload), webhook_headers())
                assert status == 200, status
            client.close()
            deadline = started + alerts / args.rate * 2 + 60
            shown = visible(fake, alerts)
            while len(shown) < alerts and time.monotonic() < deadline:
                time.sleep(0.1)
                shown = visible(fake, alerts)
            elapsed = time.monotonic() - started
            time.sleep(2.0)  # whatever is still queued (roll-up refreshes) lands
        finally:
            serve.stop()
            log = serve.log()
    fake.stop()
    calls = [c for c in fake.calls if c.method.startswith(("chat.", "conversations."))]
    return {
        "alerts": alerts, "rollup": rollup, "all_visible": len(shown) == alerts,
        "visible_after": elapsed, "top_level": len(fake.top_level(CHANNEL)),
        "calls": len(calls), "by_method": dict(Counter(c.method for c in calls)),
        "limited": sum(1 for c in calls if c.status == 429),
        "tracebacks": log.count("Traceback"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", "-n", type=int, nargs="+", default=[60, 200])
    parser.add_argument("--rate", "-r", type=float, default=1.0, help="posts/s Slack allows")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--threads", type=int, default=4, help="DELIVERY_THREADS")
    args = parser.parse_args()
    header("bench/storm_rollup.py: storm roll-ups against one-by-one delivery")
    print(f"# one channel, R={args.rate:g} posts/s, DELIVERY_THREADS={args.threads},"
          f" db={args.db}")
    print("| alerts | STORM_ROLLUP | all visible after | top-level messages |"
          " Slack calls (per alert) | 429s |")
    print("|---|---|---|---|---|---|")
    results = []
    for alerts in args.alerts:
        for rollup in (True, False):
            result = run(alerts, rollup, args)
            results.append(result)
            seen = f"{result['visible_after']:.1f} s" + ("" if result["all_visible"] else
                                                          " (NOT all visible)")
            print(f"| {alerts} | {'on' if rollup else 'off'} | {seen} | {result['top_level']} |"
                  f" {result['calls']} ({result['calls'] / alerts:.2f}) | {result['limited']} |",
                  flush=True)
            print(f"#   calls {result['by_method']}, tracebacks in the log:"
                  f" {result['tracebacks']}", flush=True)
    target = next((r for r in results if r["alerts"] == 60 and r["rollup"]), None)
    if target is not None:
        met = target["all_visible"] and target["visible_after"] <= 15 and target["top_level"] <= 10
        print(f"\ntarget (60 alerts visible within 15 s in at most 10 top-level messages):"
              f" {'MET' if met else 'NOT MET'}")
    return 0 if all(r["all_visible"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
