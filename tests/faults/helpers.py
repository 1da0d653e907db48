"""Shared by the fault tests: numbered alerts, a serve process we can kill, and the check
that every alert reached Slack exactly once, in order."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import func, select

from bot.db.database import Database
from bot.db.models import JobRow, JobStatus
from tests.conftest import WEBHOOK_TOKEN
from tests.support.fake_slack import FakeSlack, Message
from tests.support.payloads import numbered_alert_event
from tests.support.processes import BotProcess, bot_env, descendants_of
from tests.support.waiting import wait_for

AUTH = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
WEBHOOK = "/webhooks/thousandeyes"
_NAME = re.compile(r"fault-alert-(\d{4})")


def name_of(number: int) -> str:
    return f"fault-alert-{number:04d}"


def trigger(number: int, tag: str = "f") -> dict[str, Any]:
    return numbered_alert_event("trigger", number, tag, name_of(number))


def clear(number: int, tag: str = "f") -> dict[str, Any]:
    return numbered_alert_event("clear", number, tag, name_of(number))


def post_webhook(base_url: str, payload: dict[str, Any], *, channel: str | None = None,
                 session: requests.Session | None = None, timeout: float = 10) -> requests.Response:
    path = WEBHOOK + (f"?channel={channel}" if channel else "")
    sender = session or requests
    return sender.post(base_url + path, data=json.dumps(payload), headers=AUTH, timeout=timeout)


def job_counts(database_url: str) -> dict[str, int]:
    """Outbox jobs by status, read with a connection of our own."""
    database = Database(database_url)
    try:
        with database.session() as session:
            rows = session.execute(
                select(JobRow.status, func.count()).group_by(JobRow.status)).all()
        return {status: count for status, count in rows}
    finally:
        database.dispose()


def outbox_idle(database_url: str) -> bool:
    counts = job_counts(database_url)
    return not counts.get(JobStatus.PENDING) and not counts.get(JobStatus.RUNNING)


# --- the service as a process ------------------------------------------------------------


class Serve:
    """``python -m bot serve`` that can be killed like a crashed container."""

    def __init__(self, tmp_path: Path, port: int, name: str, **env: str) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.bot = BotProcess("serve", "--host", "127.0.0.1", "--port", str(port),
                              env=bot_env(**env), log_path=tmp_path / f"{name}.log", cwd=tmp_path)

    def wait_healthy(self, timeout: float = 30) -> Serve:
        self.bot.wait_healthy(self.url, timeout)
        return self

    def kill_9(self) -> None:
        """SIGKILL the master, its gunicorn worker and the worker's delivery process at
        once (the process group), then wait until they are reaped.

        The worker is re-parented to PID 1 when the master dies; until PID 1 reaps it, it
        is a zombie that ``os.kill(pid, 0)`` still reports alive, and the restarted
        service would leave its jobs to the 60 s lease instead of requeueing them at once
        (see the report of the fault tests). Waiting here keeps the test about what the
        service promises after a crash, not about how fast this container's init reaps.
        """
        group = [self.bot.process.pid, *descendants_of(self.bot.process.pid)]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.bot.process.pid, signal.SIGKILL)
        self.bot.process.wait(10)
        wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in group), 30,
                 "killed processes reaped")

    def log(self) -> str:
        return self.bot.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.bot.process.poll() is None:
            self.bot.stop()
        else:
            self.bot._log.close()


# --- what Slack shows ----------------------------------------------------------------------


@dataclass
class AlertInSlack:
    parents: list[Message] = field(default_factory=list)
    replies: list[Message] = field(default_factory=list)


def _text(message: Message) -> str:
    return message.text + json.dumps(message.blocks, ensure_ascii=False)


def alerts_in_slack(fake: FakeSlack) -> dict[int, AlertInSlack]:
    found: dict[int, AlertInSlack] = defaultdict(AlertInSlack)
    for parent in fake.top_level():
        numbers = {int(n) for n in _NAME.findall(_text(parent))}
        for number in numbers:
            found[number].parents.append(parent)
            found[number].replies.extend(fake.thread(parent))
    return found


def all_cleared(fake: FakeSlack, numbers: list[int]) -> bool:
    """Every alert has a parent shown cleared with at least one reply in its thread."""
    found = alerts_in_slack(fake)
    return all(
        any("cleared" in parent.text.lower() and fake.thread(parent) for parent in found[n].parents)
        for n in numbers
    )


def delivery_report(fake: FakeSlack, numbers: list[int],
                    extra_replies: int = 0) -> tuple[list[str], list[str]]:
    """(problems, duplicates) for alerts that should each have one parent, re-rendered as
    cleared, and ``1 + extra_replies`` replies threaded under it and posted after it.

    Problems are lost, misplaced or out-of-order messages; duplicates are messages that
    were posted more than once.
    """
    found = alerts_in_slack(fake)
    problems: list[str] = []
    duplicates: list[str] = []
    for number in numbers:
        parents = found.get(number, AlertInSlack()).parents
        if not parents:
            problems.append(f"alert {number}: no parent")
            continue
        # The alert's parent is the one its thread hangs under (the one the service
        # recorded); any other is a second post of it, whatever state it shows.
        threaded = [p for p in parents if fake.thread(p)]
        if len(threaded) > 1:
            problems.append(f"alert {number}: replies under {len(threaded)} parents")
            continue
        parent = threaded[0] if threaded else parents[0]
        if "cleared" not in parent.text.lower():
            problems.append(f"alert {number}: parent not shown cleared: {parent.text[:60]!r}")
        if len(parents) > 1:
            duplicates.append(f"alert {number}: {len(parents)} parents")
        replies = fake.thread(parent)
        if len(replies) < 1 + extra_replies:
            problems.append(f"alert {number}: {len(replies)} replies, expected {1 + extra_replies}")
        elif len(replies) > 1 + extra_replies:
            duplicates.append(f"alert {number}: {len(replies)} replies, expected {1 + extra_replies}")
        for reply in replies:
            if reply.channel != parent.channel:
                problems.append(f"alert {number}: reply in another channel")
            if float(reply.ts) <= float(parent.ts):
                problems.append(f"alert {number}: reply {reply.ts} before parent {parent.ts}")
    unexpected = set(found) - set(numbers)
    if unexpected:
        problems.append(f"messages for alerts never sent: {sorted(unexpected)}")
    return problems, duplicates


def assert_each_alert_once_in_order(fake: FakeSlack, numbers: list[int],
                                    extra_replies: int = 0) -> None:
    problems, duplicates = delivery_report(fake, numbers, extra_replies)
    assert not problems and not duplicates, "\n".join(problems + duplicates)
