"""Webhook latency with delivery in serve's delivery process, in threads of the web worker,
and off: the same code, the same load, the same rounds (issue 24, item 3).

    python bench/delivery_process.py [--db sqlite|postgres] [--rate 60] [--seconds 10]
                                     [--channels 60] [--storm-rollup off|on] [--rounds 3]

Three ``python -m bot serve`` with the shipped settings (a fresh database each, one fake
Slack without limits, ``bench/_fake_slack.py``): DELIVERY_PROCESS=child (the default),
DELIVERY_PROCESS=inline, DELIVERY_THREADS=0. Each round sends each of them, in turn, new
alerts at ``--rate`` per second for ``--seconds`` (an open loop: latency counts from the
scheduled send time), over ``--channels`` channels in turn, then waits until it has
delivered them (at most 60 s, its CPU counted). Storm roll-ups are off unless asked for,
so each alert is a post and the delivery work per webhook is the same in every round.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    DEFAULT_PG_URL,
    WEBHOOK_TOKEN,
    Serve,
    fresh_database,
    header,
    open_jobs,
    percentile,
    scratch,
)
from _targets import FakeSlackServer  # noqa: E402
from ingest import Bodies, _paths, open_loop, settle, warm_up  # noqa: E402

VARIANTS = {"child": {}, "inline": {"DELIVERY_PROCESS": "inline"},
            "off": {"DELIVERY_THREADS": "0"}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--rate", type=float, default=60.0, help="webhooks per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--channels", type=int, default=60)
    parser.add_argument("--storm-rollup", choices=["off", "on"], default="off")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    channels = [f"C0BENCH{index:03d}" for index in range(max(1, args.channels))]
    header("bench/delivery_process.py: webhook latency, delivery in a child, inline, off")
    print(f"# db={args.db} rate={args.rate:g}/s for {args.seconds:g}s channels={len(channels)}"
          f" STORM_ROLLUP={args.storm_rollup} rounds={args.rounds}", flush=True)
    with scratch("bench-delivery-process-") as work, contextlib.ExitStack() as stack:
        slack = FakeSlackServer(work, channels)
        stack.callback(slack.stop)
        slack.wait_healthy()
        servers: dict[str, tuple[Serve, str]] = {}
        for name, env in VARIANTS.items():
            url = stack.enter_context(fresh_database(args.db, work / f"db-{name}", args.pg_url))
            serve = Serve(work / "logs", name, shipped=True, DATABASE_URL=url,
                          WEBHOOK_TOKEN=WEBHOOK_TOKEN, SLACK_BOT_TOKEN="xoxb-bench",
                          SLACK_API_URL=slack.api_url, SLACK_CHANNEL=channels[0],
                          STORM_ROLLUP=args.storm_rollup, **env)
            stack.callback(serve.stop)
            servers[name] = (serve, url)
        bodies = {}
        for name, (serve, _url) in servers.items():
            serve.wait_healthy()
            bodies[name] = Bodies(f"{name}-{time.time_ns()}")
            warm_up(serve, bodies[name], 20)
        for number in range(1, args.rounds + 1):
            for name, (serve, url) in servers.items():
                before = serve.cpu_seconds()
                sample, lateness = open_loop(serve, args.rate, args.seconds, bodies[name],
                                             paths=tuple(_paths(serve, channels)))
                during = serve.cpu_seconds() - before
                backlog = open_jobs(url)
                after_cpu, after_seconds = settle(serve, 60)
                latencies = sorted(sample.latencies_ms)
                print(f"  round {number} {name:6} accepted {sample.accepted}/"
                      f"{int(args.rate * args.seconds)}  p50 {percentile(latencies, 50):7.1f} ms"
                      f"  p99 {percentile(latencies, 99):7.1f} ms  max {latencies[-1]:7.1f} ms"
                      f"  (send lateness p99 {percentile(sorted(lateness), 99):5.1f} ms)"
                      f"  CPU {during:.1f} s, backlog {backlog}, then {after_cpu:.1f} CPU s"
                      f" in {after_seconds:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
