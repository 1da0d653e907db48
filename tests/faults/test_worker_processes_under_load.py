"""Three ``python -m bot worker`` processes share the outbox under load, with
acknowledgements and flaky Slack: each job is delivered exactly once, in per-alert order.

Unlike tests/delivery/test_worker_processes.py (two workers, triggers and clears), every
alert here also gets three clicks (alice acknowledges, bob acknowledges, alice withdraws)
sent from several threads while the clears arrive, so refresh and note jobs of one alert
race across processes; Slack fails some posts and updates on the way. Each worker posts
with its own token, so the calls show that every process took part.
"""

from __future__ import annotations

import json
import threading
from collections import Counter

from sqlalchemy import func, select

from bot.db.database import Database
from bot.db.models import JobKind, JobRow, JobStatus
from bot.render.actions import ACKNOWLEDGE, UNACKNOWLEDGE, decode_alert_ref
from tests.faults.helpers import (
    alerts_in_slack,
    all_cleared,
    clear,
    delivery_report,
    job_counts,
    outbox_idle,
    post_webhook,
    trigger,
)
from tests.support.processes import BotProcess, bot_env
from tests.support.slack_requests import SIGNING_SECRET, click
from tests.support.waiting import wait_for

ALERTS = 24
WORKERS = 3
CHANNELS = ("C0ALERTS", "C0OTHER")
CLICKS = (("U0ALICE", "alice", ACKNOWLEDGE), ("U0BOB", "bob", ACKNOWLEDGE),
          ("U0ALICE", "alice", UNACKNOWLEDGE))


def _notes_of(database: Database, button_value: str) -> int:
    """Thread-note jobs of the alert: one per recorded click (refreshes may be shared)."""
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(JobRow).where(
            JobRow.alert_id == decode_alert_ref(button_value),
            JobRow.kind == JobKind.ACK_NOTE))


def _refresh_jobs(database: Database) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(JobRow).where(
            JobRow.kind == JobKind.REFRESH_PARENT))


def _button_value(message) -> str:
    for block in message.blocks:
        if block.get("type") == "actions":
            for element in block.get("elements", []):
                if element.get("action_id") == ACKNOWLEDGE:
                    return element["value"]
    raise AssertionError(f"no Acknowledge button in {message.text!r}")


def test_three_worker_processes_deliver_clicks_and_clears_once(
    slack_server, database_url, fake_slack, tmp_path
):
    workers = [
        BotProcess("worker", env=bot_env(
            DATABASE_URL=database_url, SLACK_BOT_TOKEN=f"xoxb-worker-{index}",
            SLACK_API_URL=fake_slack.url, SLACK_CHANNEL="C0ALERTS", SLACK_POST_INTERVAL="0",
            SLACK_TIMEOUT="5", DELIVERY_THREADS="3",
            # The web's settings, as every process of a deployment has them: with no way
            # for a click to arrive, messages would carry no Acknowledge button.
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            # Slack's Tier 3 is not this test's subject (test_update_budget.py is it): at
            # 50 a minute, its 50-odd updates would take a minute.
            SLACK_UPDATES_PER_MINUTE="600",
        ), log_path=tmp_path / f"worker{index}.log", cwd=tmp_path)
        for index in range(WORKERS)
    ]
    fake_slack.updates_per_minute = 600
    try:
        fake_slack.fail("chat.postMessage", status=503, times=6)
        fake_slack.fail("chat.update", status=502, times=6)
        numbers = list(range(ALERTS))
        for number in numbers:
            response = post_webhook(slack_server.url, trigger(number),
                                    channel=CHANNELS[number % 2])
            assert response.status_code == 200
        wait_for(lambda: all(alerts_in_slack(fake_slack)[n].parents for n in numbers), 120,
                 "every parent posted")
        parents = {n: alerts_in_slack(fake_slack)[n].parents[0] for n in numbers}

        failures: list[str] = []
        database = Database(database_url)

        def respond(chunk: list[int]) -> None:
            for number in chunk:
                parent = parents[number]
                value = _button_value(parent)
                for index, (user_id, user_name, action) in enumerate(CLICKS):
                    answer = click(slack_server.url, action, value,
                                   user_id=user_id, user_name=user_name,
                                   channel_id=parent.channel, message_ts=parent.ts)
                    if answer.status_code != 200:
                        failures.append(f"click {number}: {answer.status_code}")
                    # Bolt answers before the listener has recorded the click (see the
                    # report); wait for its thread note so the clicks land in this order.
                    wait_for(lambda value=value, index=index: _notes_of(database, value) >= index + 1, 30,
                             f"click {index} on alert {number} recorded")
                response = post_webhook(slack_server.url, clear(number),
                                        channel=CHANNELS[number % 2])
                if response.status_code != 200:
                    failures.append(f"clear {number}: {response.status_code}")

        threads = [threading.Thread(target=respond, args=(numbers[i::4],)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(240)
        assert not failures, failures

        wait_for(lambda: all_cleared(fake_slack, numbers), 120, "every alert cleared")
        wait_for(lambda: outbox_idle(database_url), 60, "outbox idle")

        problems, duplicates = delivery_report(fake_slack, numbers, extra_replies=len(CLICKS))
        assert not problems and not duplicates, "\n".join(problems + duplicates)
        for number in numbers:
            thread = sorted(fake_slack.thread(parents[number]), key=lambda m: float(m.ts))
            texts = [m.text for m in thread]
            assert texts[0].startswith("alice acknowledged"), texts
            assert texts[1].startswith("bob acknowledged"), texts
            assert texts[2].startswith("alice is no longer acknowledging"), texts
            assert "acknowledg" not in texts[3].split(":")[0], texts  # the clear reply
            body = parents[number].text + json.dumps(parents[number].blocks)
            assert "cleared" in parents[number].text.lower()
            assert "<@U0BOB>" in body  # bob still acknowledges; the parent says so

        posts = fake_slack.calls_to("chat.postMessage", ok_only=True)
        updates = fake_slack.calls_to("chat.update", ok_only=True)
        # parent + 3 notes + clear reply; 1 to 4 refreshes (the clicks' and the clear's: one
        # shares a refresh that has not started yet), each at most one chat.update (none
        # when the parent shows that state already).
        refreshes = _refresh_jobs(database)
        assert ALERTS <= refreshes <= ALERTS * 4, refreshes
        assert len(posts) == ALERTS * 5, len(posts)
        assert ALERTS <= len(updates) <= refreshes, (len(updates), refreshes)
        assert not [c for c in fake_slack.calls_to("chat.update") if c.status == 429]
        assert all(f.remaining == 0 for f in fake_slack.faults)
        counts = job_counts(database_url)
        assert counts == {JobStatus.DONE: ALERTS * 5 + refreshes}, counts
        by_worker = Counter(c.token for c in posts + updates)
        assert len(by_worker) == WORKERS, by_worker  # every process delivered some
        database.dispose()
    finally:
        codes = [worker.stop() for worker in workers]
    assert codes == [0] * WORKERS
    for index in range(WORKERS):
        assert "Traceback" not in (tmp_path / f"worker{index}.log").read_text()
