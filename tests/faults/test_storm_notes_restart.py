"""``kill -9`` of ``python -m bot serve`` while a storm's batched clear reply is in flight.

Slack makes the post (the fake finishes it after the process died), but the service never
recorded it. After the restart the reply's job finds its post by its marker instead of
posting it again; clears that arrive after the restart are told in a new reply. Every
clear is told exactly once, and the roll-up ends showing every alert cleared.
"""

from __future__ import annotations

import json

import requests

from bot.db.models import JobStatus
from tests.conftest import WEBHOOK_TOKEN
from tests.faults.helpers import (
    Serve,
    clear,
    job_counts,
    name_of,
    outbox_idle,
    post_webhook,
    trigger,
)
from tests.support.processes import free_port
from tests.support.waiting import wait_for

ALERTS = 12
CHANNEL = "C0ALERTS"


def _env(database_url: str, fake_slack) -> dict[str, str]:
    return dict(
        DATABASE_URL=database_url, WEBHOOK_TOKEN=WEBHOOK_TOKEN, SLACK_BOT_TOKEN="xoxb-notes",
        SLACK_API_URL=fake_slack.url, SLACK_CHANNEL=CHANNEL, SLACK_POST_INTERVAL="0",
        SLACK_TIMEOUT="10", DELIVERY_THREADS="2", STORM_ROLLUP="on",
    )


def _blocks(message) -> str:
    return json.dumps(message.blocks, ensure_ascii=False)


def _send(url: str, payloads) -> None:
    with requests.Session() as session:
        for payload in payloads:
            assert post_webhook(url, payload, session=session).status_code == 200


def test_kill_9_while_posting_a_storms_clear_reply_tells_each_clear_once(
        tmp_path, database_url, fake_slack):
    port = free_port()
    env = _env(database_url, fake_slack)
    first = Serve(tmp_path, port, "first", **env).wait_healthy()
    try:
        _send(first.url, [trigger(n, "notes") for n in range(ALERTS)])
        wait_for(lambda: outbox_idle(database_url), 30, "the storm posted")
        rollups = [m for m in fake_slack.top_level(CHANNEL) if m.text.startswith("🌩️")]
        assert len(rollups) == 1
        rollup = rollups[0]
        # Up to five alerts may have been posted on their own before the storm began (more
        # than STORM_THRESHOLD within STORM_WINDOW start one, however fast delivery is).
        members = [n for n in range(ALERTS) if name_of(n) in _blocks(rollup)]
        assert len(members) >= ALERTS - 5
        # Slack takes its time answering the reply: the process dies with it in flight.
        fake_slack.slow("chat.postMessage", 3.0, times=1)
        _send(first.url, [clear(n, "notes") for n in members[:len(members) // 2]])
        wait_for(lambda: any(c.args.get("thread_ts") == rollup.ts
                             for c in fake_slack.calls_to("chat.postMessage")),
                 20, "the storm's clear reply under way")
        first.kill_9()
    finally:
        first.stop()
    wait_for(lambda: fake_slack.thread(rollup), 10, "Slack finished the reply")
    second = Serve(tmp_path, port, "second", **env).wait_healthy()
    try:
        _send(second.url, [clear(n, "notes") for n in range(ALERTS)
                           if n not in members[:len(members) // 2]])
        wait_for(lambda: outbox_idle(database_url), 60, "everything delivered")
        replies = fake_slack.thread(rollup)
        told = sorted(n for reply in replies for n in range(ALERTS)
                      if name_of(n) in _blocks(reply))
        assert told == members, [r.text for r in replies]  # none lost, none told twice
        assert len(replies) == 2
        assert f"{len(members)} cleared" in rollup.text and "all cleared" in _blocks(rollup)
        for single in fake_slack.top_level(CHANNEL):  # alerts posted on their own
            if single.ts != rollup.ts:
                [reply] = fake_slack.thread(single)
                assert reply.text.startswith("✅ Cleared")
        assert JobStatus.DEAD not in job_counts(database_url)
        assert "Traceback" not in second.log()
    finally:
        second.stop()
