"""Alert storm: N alerts (trigger, then clear) across K channels, Slack limiting R posts/s.

    python bench/storm.py [--alerts 60] [--channels 3] [--rate 1] [--db sqlite|postgres]
                          [--order burst|interleaved] [--threads 4]

The service runs as ``python -m bot serve`` with SLACK_API_URL at a fake Slack Web API
(``tests.support.fake_slack.FakeSlack(post_rate_limit=R)``: a post closer than 1/R s to
the previous one in its channel is answered 429 with ``Retry-After``) and
SLACK_POST_INTERVAL=1/R. The webhooks are sent as fast as the service accepts them.

Reported: the time from the first webhook to the moment everything is delivered (every
alert has exactly one parent, one threaded reply in the parent's thread, and its parent
updated to cleared), against the lower bound the rate limit sets: each alert needs two
posts in its channel, so the busiest channel needs (posts - 1) / R seconds. Also the
429s and their share of calls, lost and duplicated messages.
Targets: within 1.10x of the bound, < 2% of calls 429, none lost, none duplicated.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
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
    unique_clear,
    unique_trigger,
    webhook_headers,
)
from tests.support.fake_slack import FakeSlack  # noqa: E402


def alert_name(number: int) -> str:
    return f"storm-alert-{number:05d}"


def payloads(alerts: int, order: str, tag: str) -> list[tuple[int, dict]]:
    triggers, clears = [], []
    for number in range(alerts):
        trigger, clear = unique_trigger(tag, number), unique_clear(tag, number)
        for payload in (trigger, clear):
            payload["alert"]["testName"] = alert_name(number)
        triggers.append((number, trigger))
        clears.append((number, clear))
    if order == "burst":
        return triggers + clears
    return [item for pair in zip(triggers, clears) for item in pair]


def text_of(message) -> str:
    return message.text + json.dumps(message.blocks, ensure_ascii=False)


def check(fake: FakeSlack, alerts: int, channels: list[str]) -> dict:
    """Per alert: parents, replies in its thread, whether the parent shows cleared."""
    tops = fake.top_level()
    parents: dict[int, list] = defaultdict(list)
    for message in tops:
        body = text_of(message)
        for number in _numbers_in(body, alerts):
            parents[number].append(message)
    lost_parents = [n for n in range(alerts) if not parents.get(n)]
    duplicate_parents = [n for n, found in parents.items() if len(found) > 1]
    lost_replies, duplicate_replies, not_cleared, wrong_channel = [], [], [], []
    for number in range(alerts):
        found = parents.get(number) or []
        if not found:
            continue
        parent = found[0]
        if parent.channel != channels[number % len(channels)]:
            wrong_channel.append(number)
        replies = fake.thread(parent)
        if not replies:
            lost_replies.append(number)
        elif len(replies) > 1:
            duplicate_replies.append(number)
        if "cleared" not in parent.text.lower():
            not_cleared.append(number)
    return {
        "lost_parents": lost_parents, "duplicate_parents": duplicate_parents,
        "lost_replies": lost_replies, "duplicate_replies": duplicate_replies,
        "not_cleared": not_cleared, "wrong_channel": wrong_channel,
    }


def _numbers_in(body: str, alerts: int) -> set[int]:
    found = set()
    start = 0
    while True:
        index = body.find("storm-alert-", start)
        if index < 0:
            return found
        digits = body[index + 12:index + 17]
        if digits.isdigit() and int(digits) < alerts:
            found.add(int(digits))
        start = index + 12


def complete(result: dict) -> bool:
    return not (result["lost_parents"] or result["lost_replies"] or result["not_cleared"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", "-n", type=int, default=60)
    parser.add_argument("--channels", "-k", type=int, default=3)
    parser.add_argument("--rate", "-r", type=float, default=1.0, help="posts/s/channel Slack allows")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--order", choices=["burst", "interleaved"], default="burst",
                        help="burst: all triggers then all clears; interleaved: trigger, clear, ...")
    parser.add_argument("--threads", type=int, default=4, help="DELIVERY_THREADS")
    parser.add_argument("--interval", type=float, default=None,
                        help="SLACK_POST_INTERVAL (default 1/rate)")
    parser.add_argument("--grace", type=float, default=3.0,
                        help="seconds to keep watching for duplicates after completion")
    args = parser.parse_args()
    interval = args.interval if args.interval is not None else 1.0 / args.rate
    channels = [f"C0STORM{index:03d}" for index in range(args.channels)]
    posts_per_channel = Counter(channels[n % len(channels)] for n in range(args.alerts))
    busiest = max(posts_per_channel.values()) * 2
    bound = (busiest - 1) / args.rate

    header("bench/storm.py: alert storm against a rate-limited fake Slack")
    print(f"# N={args.alerts} alerts, K={args.channels} channels, R={args.rate:g} posts/s/channel,"
          f" SLACK_POST_INTERVAL={interval:g}s, DELIVERY_THREADS={args.threads},"
          f" order={args.order}, db={args.db}")
    print(f"# lower bound: busiest channel needs {busiest} posts -> ({busiest} - 1) / "
          f"{args.rate:g} = {bound:.1f} s")

    fake = FakeSlack(post_rate_limit=args.rate).start()
    for index, channel in enumerate(channels):
        fake.add_channel(channel, f"storm-{index}")
    with scratch("bench-storm-") as work, \
            fresh_database(args.db, work / "db", args.pg_url) as url:
        serve = Serve(work, "serve", DATABASE_URL=url, WEBHOOK_TOKEN=WEBHOOK_TOKEN,
                      SLACK_BOT_TOKEN="xoxb-bench-storm", SLACK_API_URL=fake.url,
                      SLACK_CHANNEL=channels[0], SLACK_POST_INTERVAL=f"{interval:g}",
                      DELIVERY_THREADS=str(args.threads), SLACK_TIMEOUT="10")
        try:
            serve.wait_healthy()
            client = KeepAliveClient(serve.url)
            statuses: Counter = Counter()
            started = time.monotonic()
            for number, payload in payloads(args.alerts, args.order, f"storm{time.time_ns()}"):
                path = f"/webhooks/thousandeyes?channel={channels[number % len(channels)]}"
                status, _ = client.post(path, encode(payload), webhook_headers())
                statuses[status] += 1
            sent = time.monotonic()
            client.close()
            print(f"webhooks: {sum(statuses.values())} sent in {sent - started:.2f} s, "
                  f"answers {dict(statuses)}", flush=True)

            deadline = started + max(60.0, 3 * bound + 30)
            result = check(fake, args.alerts, channels)
            last_report = time.monotonic()
            while not complete(result) and time.monotonic() < deadline:
                time.sleep(0.25)
                result = check(fake, args.alerts, channels)
                if time.monotonic() - last_report > 10:
                    done = args.alerts - len(result["lost_replies"]) - len(result["lost_parents"])
                    print(f"  ... {time.monotonic() - started:5.1f} s: {done}/{args.alerts} "
                          f"alerts with a reply", flush=True)
                    last_report = time.monotonic()
            finished = complete(result)
            # The moment the last needed call landed (the fake's clock is ours).
            ok_calls = [c for c in fake.calls if c.status == 200 and c.error is None]
            last_needed = max((c.at for c in ok_calls), default=time.monotonic())
            elapsed = last_needed - started
            time.sleep(args.grace)
            result = check(fake, args.alerts, channels)
        finally:
            serve.stop()
            log = serve.log()
    fake.stop()

    calls = list(fake.calls)
    by_method = Counter(c.method for c in calls)
    limited = [c for c in calls if c.status == 429]
    posts = [c for c in calls if c.method == "chat.postMessage"]
    per_channel_last = defaultdict(float)
    for call in posts:
        if call.status == 200 and call.error is None:
            channel = str(call.args.get("channel"))
            per_channel_last[channel] = max(per_channel_last[channel], call.at - started)
    share = len(limited) / len(calls) if calls else 0.0
    lost = len(result["lost_parents"]) + len(result["lost_replies"])
    duplicated = len(result["duplicate_parents"]) + len(result["duplicate_replies"])
    ratio = elapsed / bound if bound else float("nan")

    print("\n## result")
    print(f"delivered everything: {'yes' if finished else 'NO (deadline hit)'}")
    print(f"time to deliver everything: {elapsed:.1f} s   lower bound {bound:.1f} s   "
          f"ratio {ratio:.3f}x   target <= 1.10x: {'MET' if finished and ratio <= 1.10 else 'NOT MET'}")
    print("last post per channel: " + ", ".join(
        f"{channel} {at:.1f}s" for channel, at in sorted(per_channel_last.items())))
    print(f"Slack calls: {len(calls)} {dict(by_method)}")
    print(f"429 answers: {len(limited)} = {share * 100:.2f}% of calls   target < 2%: "
          f"{'MET' if share < 0.02 else 'NOT MET'}")
    print(f"lost: {lost} (parents {len(result['lost_parents'])}, replies "
          f"{len(result['lost_replies'])})   duplicated: {duplicated} (parents "
          f"{len(result['duplicate_parents'])}, replies {len(result['duplicate_replies'])})   "
          f"not shown cleared: {len(result['not_cleared'])}   wrong channel: "
          f"{len(result['wrong_channel'])}   targets none lost / none duplicated: "
          f"{'MET' if lost == 0 and duplicated == 0 else 'NOT MET'}")
    print(f"service log: {log.count('rate limit')} rate-limit lines, "
          f"{log.count('Traceback')} tracebacks, {log.count(' ERROR ')} errors")
    return 0 if finished and lost == 0 and duplicated == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
