"""Acknowledge clicks: Bolt's HTTP answer, and the click-to-``chat.update`` time.

    python bench/acknowledge.py [--clicks 200] [--alerts 4] [--db sqlite|postgres]
                                [--interval 0] [--gap 0]

The service runs as ``python -m bot serve`` with SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN and
SLACK_API_URL at a fake Slack Web API that does not rate-limit. A few alerts are posted
first; then signed ``block_actions`` requests, as Slack sends them, alternate Acknowledge
and Unacknowledge over those alerts, one after the other. For each click:

- answer: from sending the click to Bolt's HTTP response (Slack allows 3 s; target p99
  < 100 ms);
- update: from sending the click to the parent's ``chat.update`` arriving at the fake
  Slack (target < 1 s when Slack is not limiting). The next click is sent once the
  update arrived (plus ``--gap``), so clicks never queue behind each other.

``--interval`` is SLACK_POST_INTERVAL. The default 0 turns the service's own pacing off,
which is what "Slack is not limiting" means for the thread note each click also posts;
with the shipped 1.0 the notes wait for the channel's post slots, while the parent
updates go ahead of them (a refresh does not wait for earlier notes of its alert).

Then (``--storm N``, 0 to skip) the same with the shipped pacing (SLACK_POST_INTERVAL=1,
fake Slack limiting 1 post/s/channel) while the channel has a backlog of N new alerts to
post: two people acknowledge an alert that is already posted, one after the other; the
time from each click to its parent update is reported.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    DEFAULT_PG_URL,
    WEBHOOK_TOKEN,
    KeepAliveClient,
    Serve,
    encode,
    fresh_database,
    header,
    median,
    percentile,
    scratch,
    unique_trigger,
    webhook_headers,
)
from bot.render.actions import ACKNOWLEDGE, UNACKNOWLEDGE  # noqa: E402
from tests.support.fake_slack import FakeSlack  # noqa: E402
from tests.support.slack_requests import (  # noqa: E402
    SIGNING_SECRET,
    block_action_body,
    signed_headers,
)

CHANNEL = "C0ACKBENCH"
ANSWER_TARGET_MS = 100.0
UPDATE_TARGET_MS = 1000.0


def button_value(message) -> str | None:
    for block in message.blocks:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") in (ACKNOWLEDGE, UNACKNOWLEDGE):
                return element.get("value")
    return None


def wait_for(condition, timeout: float, poll: float = 0.002):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    return None


@contextlib.contextmanager
def serving(args: argparse.Namespace, name: str, post_interval: str,
            post_rate_limit: float | None = None) -> Iterator[tuple[Serve, FakeSlack]]:
    """``serve`` on a fresh database, posting to a fake Slack with the bench's channel."""
    fake = FakeSlack(post_rate_limit=post_rate_limit).start()
    fake.add_channel(CHANNEL, "ack-bench")
    try:
        with scratch(f"bench-ack-{name}-") as work, \
                fresh_database(args.db, work / "db", args.pg_url) as url:
            serve = Serve(work, "serve", DATABASE_URL=url, WEBHOOK_TOKEN=WEBHOOK_TOKEN,
                          SLACK_BOT_TOKEN="xoxb-bench-ack", SLACK_SIGNING_SECRET=SIGNING_SECRET,
                          SLACK_API_URL=fake.url, SLACK_CHANNEL=CHANNEL,
                          SLACK_POST_INTERVAL=post_interval)
            try:
                serve.wait_healthy()
                yield serve, fake
            finally:
                serve.stop()
    finally:
        fake.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clicks", type=int, default=200)
    parser.add_argument("--alerts", type=int, default=4)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--interval", type=float, default=0.0, help="SLACK_POST_INTERVAL")
    parser.add_argument("--gap", type=float, default=0.0,
                        help="seconds between an update arriving and the next click")
    parser.add_argument("--update-timeout", type=float, default=15.0)
    parser.add_argument("--storm", type=int, default=20,
                        help="backlog of alerts for the second phase (0: skip it)")
    parser.add_argument("--pairs", type=int, default=40,
                        help="alerts for the back-to-back acknowledge/unacknowledge phase (0: skip)")
    args = parser.parse_args()

    header("bench/acknowledge.py: signed Acknowledge clicks against python -m bot serve")
    print(f"# clicks={args.clicks} over {args.alerts} alerts, alternating acknowledge /"
          f" unacknowledge; SLACK_POST_INTERVAL={args.interval:g}; db={args.db}; "
          f"fake Slack without rate limit")
    answers_ms: list[float] = []
    updates_ms: list[float] = []
    statuses: dict[int, int] = {}
    missing = 0
    with serving(args, "main", f"{args.interval:g}") as (serve, fake):
        client = KeepAliveClient(serve.url)
        tag = f"ack{time.time_ns()}"
        for number in range(args.alerts):
            status, body = client.post("/webhooks/thousandeyes",
                                       encode(unique_trigger(tag, number)), webhook_headers())
            assert status == 200, body
        parents = wait_for(lambda: len(fake.top_level(CHANNEL)) >= args.alerts and
                           fake.top_level(CHANNEL), timeout=60)
        if not parents:
            print("error: the alerts were not posted:\n" + serve.log()[-3000:])
            return 1
        targets = [(parent, button_value(parent)) for parent in parents[:args.alerts]]
        # Warm up Bolt and the delivery path once per alert (not measured).
        for parent, value in targets:
            for action in (ACKNOWLEDGE, UNACKNOWLEDGE):
                before = parent.updates
                _click(client, action, value, parent)
                wait_for(lambda: parent.updates > before, args.update_timeout)

        for index in range(args.clicks):
            parent, value = targets[index % len(targets)]
            action = ACKNOWLEDGE if (index // len(targets)) % 2 == 0 else UNACKNOWLEDGE
            updates_before = len([c for c in fake.calls_to("chat.update")
                                  if c.args.get("ts") == parent.ts])
            sent = time.monotonic()
            status = _click(client, action, value, parent)
            answered = time.monotonic()
            statuses[status] = statuses.get(status, 0) + 1
            answers_ms.append((answered - sent) * 1000)
            update = wait_for(lambda: ([c for c in fake.calls_to("chat.update")
                                        if c.args.get("ts") == parent.ts][updates_before:]
                                       or None), args.update_timeout)
            if update is None:
                missing += 1
                continue
            updates_ms.append((update[0].at - sent) * 1000)
            if args.gap:
                time.sleep(args.gap)
        client.close()
        expected_notes = 2 * len(targets) + args.clicks
        wait_for(lambda: sum(len(fake.thread(p)) for p, _ in targets) >= expected_notes,
                 args.update_timeout, poll=0.05)
        notes = sum(len(fake.thread(parent)) for parent, _ in targets)
        log = serve.log()

    print(f"\nclicks: {len(answers_ms)}, HTTP answers {statuses}, thread notes posted {notes} of {expected_notes}, "
          f"updates missing after {args.update_timeout:g}s: {missing}")
    print(f"click -> Bolt HTTP answer: p50 {median(answers_ms):6.1f} ms  p99 "
          f"{percentile(answers_ms, 99):6.1f} ms  max {max(answers_ms):6.1f} ms   "
          f"target p99 < {ANSWER_TARGET_MS:g} ms: "
          f"{'MET' if percentile(answers_ms, 99) < ANSWER_TARGET_MS else 'NOT MET'}")
    print(f"click -> parent chat.update:  p50 {median(updates_ms):6.1f} ms  p99 "
          f"{percentile(updates_ms, 99):6.1f} ms  max {max(updates_ms, default=float('nan')):6.1f}"
          f" ms   target < {UPDATE_TARGET_MS:g} ms (p99): "
          f"{'MET' if updates_ms and not missing and percentile(updates_ms, 99) < UPDATE_TARGET_MS else 'NOT MET'}")
    print(f"service log: {log.count('Traceback')} tracebacks")
    if args.storm:
        storm_phase(args)
    if args.pairs:
        pairs_phase(args)
    return 0


def pairs_phase(args: argparse.Namespace) -> None:
    """Acknowledge then at once Unacknowledge (each click waits only for Bolt's answer):
    does the service record them in the order it answered them?"""
    print(f"\n## back-to-back clicks: one user acknowledges then unacknowledges each of "
          f"{args.pairs} alerts, the second click sent as soon as the first is answered")
    with serving(args, "pairs", "0") as (serve, fake):
        client = KeepAliveClient(serve.url)
        tag = f"ackpairs{time.time_ns()}"
        for number in range(args.pairs):
            client.post("/webhooks/thousandeyes", encode(unique_trigger(tag, number)),
                        webhook_headers())
        parents = wait_for(lambda: len(fake.top_level(CHANNEL)) >= args.pairs
                           and fake.top_level(CHANNEL), 60)
        for parent in parents:
            value = button_value(parent)
            for action in (ACKNOWLEDGE, UNACKNOWLEDGE):
                body = block_action_body(action, value or "", user_id="U0RACE",
                                         user_name="race", channel_id=parent.channel,
                                         message_ts=parent.ts)
                client.post("/slack/events", body.encode(), signed_headers(body))
        client.close()
        time.sleep(5.0)  # the last clicks' jobs finish well within this
        still = sum(1 for p in parents if "<@U0RACE>" in str(p.blocks))
        told = [c for c in fake.calls_to("chat.postEphemeral")
                if "not acknowledged" in str(c.args.get("text", ""))]
        print(f"alerts still shown acknowledged by the user who withdrew: {still} of "
              f"{len(parents)}; 'You had not acknowledged' answers: {len(told)}")


def storm_phase(args: argparse.Namespace) -> None:
    """Two acknowledgements of one alert while the channel has N alerts queued to post."""
    print(f"\n## clicks during a storm: SLACK_POST_INTERVAL=1, fake Slack 1 post/s/channel, "
          f"{args.storm} alerts queued in the channel")
    with serving(args, "storm", "1", post_rate_limit=1.0) as (serve, fake):
        client = KeepAliveClient(serve.url)
        tag = f"ackstorm{time.time_ns()}"
        client.post("/webhooks/thousandeyes", encode(unique_trigger(tag, 0)), webhook_headers())
        parent = wait_for(lambda: fake.top_level(CHANNEL) and fake.top_level(CHANNEL)[0], 30)
        value = button_value(parent)
        time.sleep(1.1)  # the channel's next post slot is free again
        for number in range(1, args.storm + 1):
            client.post("/webhooks/thousandeyes", encode(unique_trigger(tag, number)),
                        webhook_headers())
        queued_at = time.monotonic()
        results = []
        for user in ("U0FIRST", "U0SECOND"):
            before = parent.updates
            sent = time.monotonic()
            body = block_action_body(ACKNOWLEDGE, value or "", user_id=user, user_name=user,
                                     channel_id=parent.channel, message_ts=parent.ts)
            status, _ = client.post("/slack/events", body.encode(), signed_headers(body))
            answered = time.monotonic()
            updated = wait_for(lambda: parent.updates > before, 3 * args.storm + 30, 0.01)
            results.append((user, status, (answered - sent) * 1000,
                            (time.monotonic() - sent) * 1000 if updated else float("nan")))
        for user, status, answer_ms, update_ms in results:
            print(f"{user}: HTTP {status} answered in {answer_ms:6.1f} ms; parent updated "
                  f"{update_ms:8.1f} ms after the click")
        print(f"(backlog queued {time.monotonic() - queued_at:.1f} s ago; posts so far "
              f"{len(fake.calls_to('chat.postMessage', ok_only=True))})")
        client.close()


def _click(client: KeepAliveClient, action: str, value: str | None, parent) -> int:
    body = block_action_body(action, value or "", user_id="U0BENCH", user_name="bench",
                             channel_id=parent.channel, message_ts=parent.ts)
    status, _ = client.post("/slack/events", body.encode(), signed_headers(body))
    return status


if __name__ == "__main__":
    sys.exit(main())
