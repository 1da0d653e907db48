"""Delivery against a rate-limited fake Slack, side by side with an earlier revision.

    python bench/delivery.py [--phases latency,backlog,outage] [--db sqlite|postgres]
                             [--baseline REV] [--channels 20] [--rate 1]

Phases (each runs this revision, then ``--baseline``'s, the service as users run it:
``python -m bot serve`` with DELIVERY_THREADS=4, SLACK_POST_INTERVAL=1/rate, a fake Slack
that answers 429 to a post closer than 1/rate s to the previous one in its channel;
LOG_LEVEL=WARNING and, as in the tests, storm roll-ups and flapping off, unless
``--shipped``, which leaves every other setting at its default):

- latency: webhooks at ``--webhook-rate``/s (open loop) over the channels for
  ``--seconds``: p50/p99 with delivery on and off, and the server CPU per webhook.
  Target: p99 with delivery on within 1.3x of delivery off.
- backlog: ``--backlog`` alerts over the channels are queued with delivery off, then a
  serve with delivery on drains them for ``--window`` s: per channel, the time its posts
  took against Slack's bound ((posts - 1) / rate), 429s, and server CPU per delivered
  job. Target: within 1.05x of the bound.
- outage: ``--alerts`` alerts arrive while Slack answers 503 to everything for
  ``--outage`` s; then the time from Slack's recovery to every alert posted.
  Target: <= 20 s.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    DEFAULT_PG_URL,
    WEBHOOK_TOKEN,
    KeepAliveClient,
    Serve,
    baseline_checkout,
    encode,
    fresh_database,
    header,
    median,
    percentile,
    scratch,
    unique_trigger,
    wait_drained,
    webhook_headers,
)
from ingest import Bodies, open_loop, warm_up  # noqa: E402
from tests.support.fake_slack import FakeSlack  # noqa: E402


class Setup:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.channels = [f"C0BENCH{index:03d}" for index in range(args.channels)]
        self._databases = itertools.count()

    def database(self) -> contextlib.AbstractContextManager[str]:
        """A fresh database for one service (a SQLite file of its own)."""
        return fresh_database(self.args.db, self.work / f"db{next(self._databases)}",
                              self.args.pg_url)

    def fake(self) -> FakeSlack:
        fake = FakeSlack(post_rate_limit=self.args.rate).start()
        for index, channel in enumerate(self.channels):
            fake.add_channel(channel, f"bench-{index}")
        return fake

    def serve(self, name: str, url: str, fake: FakeSlack, code: Path | None,
              delivery: bool) -> Serve:
        env = dict(DATABASE_URL=url, WEBHOOK_TOKEN=WEBHOOK_TOKEN, SLACK_BOT_TOKEN="xoxb-bench",
                   SLACK_API_URL=fake.url, SLACK_CHANNEL=self.channels[0],
                   SLACK_POST_INTERVAL=f"{1 / self.args.rate:g}", SLACK_TIMEOUT="10",
                   DELIVERY_THREADS="4" if delivery else "0")
        if not self.args.shipped:
            env["LOG_LEVEL"] = "WARNING"
        if code is not None:
            env["PYTHONPATH"] = str(code)
        return Serve(self.work / "logs", name, shipped=self.args.shipped, **env).wait_healthy()

    def paths(self) -> tuple[str, ...]:
        return tuple(f"/webhooks/thousandeyes?channel={c}" for c in self.channels)


def revisions(args: argparse.Namespace, baseline: Path | None) -> list[tuple[str, Path | None]]:
    return [("new", None)] + ([(f"@{args.baseline}", baseline)] if baseline else [])


def latency(setup: Setup, code_by_name: list[tuple[str, Path | None]]) -> None:
    args = setup.args
    print(f"\n## latency: {args.webhook_rate:g} webhooks/s for {args.seconds:g} s over "
          f"{args.channels} channels, {args.rounds} round(s)")
    results: dict[str, list] = defaultdict(list)
    for _round in range(args.rounds):
        for name, code in code_by_name:
            for delivery in (False, True):
                label = f"{name} delivery-{'on' if delivery else 'off'}"
                fake = setup.fake()
                with setup.database() as url:
                    serve = setup.serve(label.replace(" ", "-"), url, fake, code, delivery)
                    try:
                        warm_up(serve, Bodies(f"warm{time.time_ns()}"), count=100)
                        before = serve.cpu_seconds()
                        sample, _late = open_loop(serve, args.webhook_rate, args.seconds,
                                                  Bodies(f"lat{time.time_ns()}"),
                                                  paths=setup.paths())
                        cpu = serve.cpu_seconds() - before
                    finally:
                        serve.stop()
                fake.stop()
                results[label].append((sample, cpu))
                print(f"  {label:24} p50 {percentile(sample.latencies_ms, 50):6.1f} ms  p99 "
                      f"{percentile(sample.latencies_ms, 99):6.1f} ms  accepted "
                      f"{sample.accepted}  server CPU {cpu * 1000 / max(1, sample.accepted):.2f}"
                      f" ms/webhook", flush=True)
    for name, _code in code_by_name:
        p99 = {d: median([percentile(s.latencies_ms, 99) for s, _ in results[f"{name} delivery-{d}"]])
               for d in ("off", "on")}
        print(f"  {name}: median p99 off {p99['off']:.1f} ms, on {p99['on']:.1f} ms, ratio "
              f"{p99['on'] / p99['off']:.2f}x (target <= 1.3x)")


def send_alerts(setup: Setup, serve: Serve, count: int) -> None:
    """``count`` new alerts, one trigger each, over the channels in turn."""
    client = KeepAliveClient(serve.url)
    tag = f"bench{time.time_ns()}"
    try:
        for number in range(count):
            channel = setup.channels[number % len(setup.channels)]
            status, _ = client.post(f"/webhooks/thousandeyes?channel={channel}",
                                    encode(unique_trigger(tag, number)), webhook_headers())
            assert status == 200, status
    finally:
        client.close()


def load(setup: Setup, url: str, fake: FakeSlack, code: Path | None, count: int) -> float:
    """Queue ``count`` alerts over the channels with delivery off; returns seconds taken."""
    serve = setup.serve("loader", url, fake, code, delivery=False)
    began = time.monotonic()
    try:
        send_alerts(setup, serve, count)
    finally:
        serve.stop()
    return time.monotonic() - began


def backlog(setup: Setup, code_by_name: list[tuple[str, Path | None]]) -> None:
    args = setup.args
    print(f"\n## backlog: {args.backlog} alerts over {args.channels} channels at "
          f"{args.rate:g} post/s/channel, drained for {args.window:g} s")
    for name, code in code_by_name:
        fake = setup.fake()
        with setup.database() as url:
            loaded = load(setup, url, fake, code, args.backlog)
            serve = setup.serve(f"backlog-{name}", url, fake, code, delivery=True)
            try:
                before = serve.cpu_seconds()
                time.sleep(args.window)
                cpu = serve.cpu_seconds() - before
            finally:
                serve.stop()
        fake.stop()
        posts = [c for c in fake.calls_to("chat.postMessage") if c.status == 200 and not c.error]
        limited = [c for c in fake.calls if c.status == 429]
        by_channel: dict[str, list[float]] = defaultdict(list)
        for call in posts:
            by_channel[str(call.args.get("channel"))].append(call.at)
        ratios = []
        for times in by_channel.values():
            if len(times) > 1:
                ratios.append((max(times) - min(times)) / ((len(times) - 1) / args.rate))
        print(f"  {name:12} loaded in {loaded:.1f} s; {len(posts)} posted in {args.window:g} s"
              f" ({len(posts) / args.window:.1f}/s, Slack allows {args.rate * args.channels:g}/s);"
              f" per channel, time / bound: median {median(ratios):.3f}x, worst "
              f"{max(ratios, default=float('nan')):.3f}x (target <= 1.05x); 429s "
              f"{len(limited)}; history reads {len(fake.calls_to('conversations.history'))};"
              f" server CPU "
              f"{cpu * 1000 / max(1, len(posts)):.2f} ms per delivered job", flush=True)


def outage(setup: Setup, code_by_name: list[tuple[str, Path | None]]) -> None:
    args = setup.args
    print(f"\n## outage: {args.alerts} alerts over {args.channels} channels during a "
          f"{args.outage:g} s outage (every call 503)")
    for name, code in code_by_name:
        fake = setup.fake()
        with setup.database() as url:
            serve = setup.serve(f"outage-{name}", url, fake, code, delivery=True)
            try:
                fake.go_down("503")
                send_alerts(setup, serve, args.alerts)
                time.sleep(max(0.0, args.outage - (time.monotonic() - fake.went_down_at)))
                fake.come_back()
                waited = wait_drained(url, timeout=600)
                posts = [c for c in fake.calls_to("chat.postMessage", ok_only=True)]
                last = max((c.at for c in posts), default=float("nan"))
            finally:
                serve.stop()
        fake.stop()
        limited = [c for c in fake.calls if c.status == 429]
        reads = len(fake.calls_to("conversations.history"))
        print(f"  {name:12} recovery to all {len(posts)} posted: "
              f"{last - fake.recovered_at:.1f} s (target <= 20 s; outbox empty after "
              f"{waited:.1f} s); 429s {len(limited)}; history reads {reads}; calls during "
              f"the outage {sum(1 for c in fake.calls if c.status == 503)}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phases", default="latency,backlog,outage")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--baseline", metavar="REV", help="also run this git revision")
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--rate", type=float, default=1.0, help="posts/s/channel Slack allows")
    parser.add_argument("--webhook-rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0, help="latency: send for this long")
    parser.add_argument("--rounds", type=int, default=1, help="latency: interleaved rounds")
    parser.add_argument("--shipped", action="store_true",
                        help="every other setting at its default, as the README starts serve"
                             " (storm roll-ups and flapping on, INFO logs)")
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--window", type=float, default=30.0, help="backlog: drain for this long")
    parser.add_argument("--alerts", type=int, default=40)
    parser.add_argument("--outage", type=float, default=60.0)
    args = parser.parse_args()
    phases = {"latency": latency, "backlog": backlog, "outage": outage}
    chosen = [p for p in args.phases.split(",") if p]
    header("bench/delivery.py: delivery against a rate-limited fake Slack")
    print(f"# db={args.db} channels={args.channels} rate={args.rate:g}/s/channel "
          f"baseline={args.baseline or '-'} phases={','.join(chosen)} settings="
          + ("shipped" if args.shipped else "LOG_LEVEL=WARNING,STORM_ROLLUP=off,FLAP_WINDOW=off"))
    with scratch("bench-delivery-") as work, baseline_checkout(args.baseline, work) as baseline:
        setup = Setup(args, work)
        for phase in chosen:
            phases[phase](setup, revisions(args, baseline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
