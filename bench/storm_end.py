"""The end of a storm: its clears, then a new alert in the same channel, before and after.

    python bench/storm_end.py [--alerts 60 300 2000] [--baseline /work/main]
                              [--db sqlite|postgres] [--deadline 240] [--acks 10]

For each N and each revision (``--baseline``: a repository whose HEAD is cloned into a
temporary directory, or a revision of this one; "after": this checkout), side by side in
one run, ``python -m bot serve`` posts to a fake Slack that allows 1 post/s per channel
and enforces Tier 3 on chat.update (50 a minute per workspace, 429 with Retry-After):

1. N triggers into one channel, as fast as the service takes them; wait until every
   alert is visible (named in a top-level message or a page of the roll-up's thread);
2. the N clears, as fast as the service takes them; 3 s after the last one, a new
   alert for the same channel.

Reported: the seconds from the new alert's webhook until it has a parent of its own; the
Slack calls made for the clears (every chat.* and conversations.* call after the first
clear, but the new alert's own post); the seconds from the first clear until every alert
shows cleared (its line in the roll-up or a page, or its own parent); 429s on
chat.update. Then the same storm with ``--acks`` acknowledgements from the roll-up
(Acknowledge all by three people, Acknowledge one by the rest) before its clears: 429s on
chat.update. Targets (issue 21): the new alert within 5 s in every case; the clears of a
storm of N within 10 + N/20 calls; at most 2 updates refused with the acknowledgements.

STORM_QUIET is 2 s (``--storm-quiet``) for both revisions: with the default 5 minutes the
revision before would list the new alert in the finished storm's roll-up instead of
giving it a parent (this one ends a storm once every alert of it has cleared).
A phase not done within ``--deadline`` seconds is reported as such.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    DEFAULT_PG_URL,
    REPO,
    WEBHOOK_TOKEN,
    KeepAliveClient,
    Serve,
    checkout_of,
    encode,
    fresh_database,
    header,
    open_jobs,
    scratch,
    webhook_headers,
)
from bot.render.actions import ACKNOWLEDGE_ALL, ACKNOWLEDGE_ONE  # noqa: E402
from tests.support.fake_slack import FakeSlack, Message  # noqa: E402
from tests.support.payloads import numbered_alert_event  # noqa: E402
from tests.support.slack_requests import SIGNING_SECRET, click, pick  # noqa: E402

CHANNEL = "C0STORMEND"
NEW_ALERT = "storm-end-new-alert"


def name_of(number: int) -> str:
    return f"storm-end-{number:05d}"


def _payload(transition: str, number: int, tag: str, name: str) -> dict[str, Any]:
    payload = numbered_alert_event(transition, number, tag, name)
    payload["alert"]["testId"] = 700000 + number  # a test of its own: no flapping
    return payload


def _texts(message: Message) -> list[str]:
    texts = [message.text]
    for block in message.blocks:
        text = block.get("text")
        if isinstance(text, dict):
            texts.append(str(text.get("text", "")))
    return texts


def _is_rollup(message: Message) -> bool:
    return message.text.startswith("🌩️")


class Channel:
    """What a user reading the channel sees: which alerts are shown, and how."""

    def __init__(self, fake: FakeSlack, alerts: int) -> None:
        self.fake, self.alerts = fake, alerts
        self._name = re.compile(r"storm-end-(\d{5})")

    def _lines(self) -> Iterator[tuple[Message, str]]:
        for top in self.fake.top_level(CHANNEL):
            messages = [top] + ([m for m in self.fake.thread(top) if "page" in m.text]
                                if _is_rollup(top) else [])
            for message in messages:
                for text in _texts(message):
                    for line in text.split("\n"):
                        yield message, line

    def visible(self) -> set[int]:
        return {int(n) for _, line in self._lines() for n in self._name.findall(line)}

    def shown_cleared(self) -> set[int]:
        cleared = set()
        for message, line in self._lines():
            numbers = self._name.findall(line)
            if not numbers:
                continue
            in_list = _is_rollup(message) or message.thread_ts is not None
            if (in_list and "— Cleared" in line) or (not in_list and "cleared" in message.text.lower()):
                cleared.update(int(n) for n in numbers)
        return cleared

    def new_alert_parent(self) -> bool:
        return any(not _is_rollup(m) and any(NEW_ALERT in t for t in _texts(m))
                   for m in self.fake.top_level(CHANNEL))

    def rollup(self) -> Message | None:
        return next((m for m in self.fake.top_level(CHANNEL) if _is_rollup(m)), None)


def _wait(condition, deadline: float, poll: float = 0.1) -> float | None:
    """Seconds until ``condition()`` held, from now; None if not by ``deadline``."""
    began = time.monotonic()
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic() - began
        time.sleep(poll)
    return None


def _send(client: KeepAliveClient, payloads: list[dict[str, Any]]) -> None:
    for payload in payloads:
        status, _ = client.post(f"/webhooks/thousandeyes?channel={CHANNEL}", encode(payload),
                                webhook_headers())
        assert status == 200, status


def _acknowledge(serve: Serve, rollup: Message, acks: int) -> int:
    """``acks`` clicks on the roll-up: Acknowledge all by three people, then Acknowledge
    one (from its menu) by the rest; returns how many Slack answered 200."""
    elements = [e for b in rollup.blocks if b.get("type") == "actions" for e in b["elements"]]
    storm_ref = next(e["value"] for e in elements if e.get("action_id") == ACKNOWLEDGE_ALL)
    menu = next(e for e in elements if e.get("action_id") == ACKNOWLEDGE_ONE)
    options = [o["value"] for o in menu.get("options", [])]
    ok = 0
    for index in range(acks):
        where = dict(user_id=f"U0BENCH{index:02d}", user_name=f"responder{index}",
                     channel_id=rollup.channel, message_ts=rollup.ts)
        if index < 3:
            answer = click(serve.url, ACKNOWLEDGE_ALL, storm_ref, **where)
        else:
            answer = pick(serve.url, ACKNOWLEDGE_ONE, options[(index * 7) % len(options)], **where)
        ok += answer.status_code == 200
    return ok


def run(alerts: int, acks: int, revision: str, code: Path, args: argparse.Namespace) -> dict[str, Any]:
    fake = FakeSlack(post_rate_limit=1.0).start()
    fake.add_channel(CHANNEL, "storm-end")
    tag = f"end{time.time_ns()}"
    result: dict[str, Any] = {"alerts": alerts, "revision": revision, "acks": acks}
    with scratch("bench-storm-end-") as work, fresh_database(args.db, work / "db", args.pg_url) as url:
        serve = Serve(work, "serve", DATABASE_URL=url, WEBHOOK_TOKEN=WEBHOOK_TOKEN,
                      SLACK_BOT_TOKEN="xoxb-bench-end", SLACK_API_URL=fake.url,
                      SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_CHANNEL=CHANNEL,
                      SLACK_POST_INTERVAL="1", DELIVERY_THREADS=str(args.threads),
                      SLACK_TIMEOUT="10", STORM_ROLLUP="on", STORM_QUIET=args.storm_quiet,
                      PYTHONPATH=str(code))
        try:
            serve.wait_healthy()
            client = KeepAliveClient(serve.url)
            channel = Channel(fake, alerts)
            began = time.monotonic()
            _send(client, [_payload("trigger", n, tag, name_of(n)) for n in range(alerts)])
            visible = _wait(lambda: len(channel.visible()) == alerts,
                            began + alerts * 1.2 + args.deadline)
            result["storm_visible_s"] = visible
            result["rollups"] = sum(1 for m in fake.top_level(CHANNEL) if _is_rollup(m))
            result["top_level"] = len(fake.top_level(CHANNEL))
            if visible is None:
                return result
            _wait(lambda: open_jobs(url) == 0, time.monotonic() + 30, poll=0.5)
            if acks:
                rollup = channel.rollup()
                assert rollup is not None, "no roll-up"
                before_acks = len(fake.calls)
                result["acks_ok"] = _acknowledge(serve, rollup, acks)
                acked = _wait(lambda: open_jobs(url) == 0, time.monotonic() + args.deadline,
                              poll=0.5)
                result["acks_done_s"] = acked
                result["ack_calls"] = sum(1 for c in fake.calls[before_acks:]
                                          if c.method.startswith("chat."))
            mark = len(fake.calls)
            cleared_from = time.monotonic()
            deadline = cleared_from + args.deadline
            _send(client, [_payload("clear", n, tag, name_of(n)) for n in range(alerts)])
            time.sleep(3.0)  # the new alert comes 3 s after the last clear
            _send(client, [_payload("trigger", 99999, tag, NEW_ALERT)])
            client.close()
            result["new_alert_s"] = _wait(channel.new_alert_parent, deadline)
            shown = _wait(lambda: len(channel.shown_cleared()) == alerts, deadline)
            result["all_cleared_s"] = (None if shown is None
                                       else time.monotonic() - cleared_from)
            result["drained"] = _wait(lambda: open_jobs(url) == 0, deadline, poll=0.5) is not None
            calls = [c for c in fake.calls[mark:]
                     if c.method.startswith(("chat.", "conversations."))
                     and NEW_ALERT not in json.dumps(c.args, ensure_ascii=False)]
            result["clear_calls"] = len(calls)
            result["updates"] = sum(1 for c in calls if c.method == "chat.update")
            result["updates_refused"] = sum(1 for c in fake.calls_to("chat.update")
                                            if c.status == 429)
        finally:
            serve.stop()
            result["tracebacks"] = serve.log().count("Traceback")
    fake.stop()
    return result


@contextmanager
def _before(baseline: str, work: Path) -> Iterator[Path]:
    """The code before: HEAD of a repository cloned into ``work``, or a revision here."""
    if Path(baseline, ".git").exists():
        path = work / "before"
        subprocess.run(["git", "clone", "--quiet", baseline, str(path)], check=True)
        yield path
    else:
        with checkout_of(baseline, work) as path:
            yield path


def _revision_of(path: Path) -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=path,
                          capture_output=True, text=True).stdout.strip()


def _seconds(value: float | None, deadline: float) -> str:
    return f"{value:.1f} s" if value is not None else f"> {deadline:g} s (not reached)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", "-n", type=int, nargs="+", default=[60, 300, 2000])
    parser.add_argument("--baseline", default="/work/main",
                        help="a repository (its HEAD) or a revision of this one; '' for none")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--threads", type=int, default=4, help="DELIVERY_THREADS")
    parser.add_argument("--deadline", type=float, default=240.0,
                        help="seconds a phase may take before it is reported as not reached")
    parser.add_argument("--acks", type=int, default=10)
    parser.add_argument("--storm-quiet", default="2s")
    args = parser.parse_args()
    header("bench/storm_end.py: the end of a storm, and a new alert after it")
    print(f"# one channel at 1 post/s, chat.update Tier 3 (50/min), DELIVERY_THREADS="
          f"{args.threads}, STORM_QUIET={args.storm_quiet}, db={args.db}")
    print("| alerts | revision | acks | new alert has its parent | Slack calls for the clears"
          " (target) | every alert shown cleared | chat.update refused |")
    print("|---|---|---|---|---|---|---|")
    results = []
    with scratch("bench-storm-end-code-") as work:
        with (_before(args.baseline, work) if args.baseline else _no_baseline()) as before:
            revisions = ([("before " + _revision_of(before), before)] if before else []) + [
                ("after " + _revision_of(REPO), REPO)]
            for alerts in args.alerts:
                for acks in (0, args.acks):
                    for revision, code in revisions:
                        result = run(alerts, acks, revision, code, args)
                        results.append(result)
                        target = 10 + alerts / 20
                        if result.get("storm_visible_s") is None:
                            print(f"| {alerts} | {revision} | {acks} | storm not visible within"
                                  f" the deadline | | | |", flush=True)
                            continue
                        print(f"| {alerts} | {revision} | {acks} |"
                              f" {_seconds(result['new_alert_s'], args.deadline)} |"
                              f" {result['clear_calls']} ({target:g}) |"
                              f" {_seconds(result['all_cleared_s'], args.deadline)} |"
                              f" {result['updates_refused']} |", flush=True)
                        print(f"#   {json.dumps(result)}", flush=True)
    return 0


@contextmanager
def _no_baseline() -> Iterator[None]:
    yield None


if __name__ == "__main__":
    sys.exit(main())
