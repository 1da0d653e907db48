"""``kill -9`` of ``python -m bot serve`` while a storm's roll-up is being posted.

The restarted service must neither split the storm (a second roll-up) nor post any alert
twice: the roll-up whose post was in flight is found by its job's marker, and every
alert ends up listed in exactly one top-level message, its replies in that thread.
"""

from __future__ import annotations

import json

import requests

from bot.db.models import JobStatus
from bot.render.actions import ACKNOWLEDGE, ACKNOWLEDGE_ALL, ACKNOWLEDGE_ONE
from tests.conftest import WEBHOOK_TOKEN
from tests.faults.helpers import (
    Serve,
    alerts_in_slack,
    clear,
    job_counts,
    name_of,
    outbox_idle,
    post_webhook,
    trigger,
)
from tests.support.processes import free_port
from tests.support.waiting import wait_for

ALERTS = 20


def _env(database_url: str, fake_slack) -> dict[str, str]:
    return dict(
        DATABASE_URL=database_url, WEBHOOK_TOKEN=WEBHOOK_TOKEN, SLACK_BOT_TOKEN="xoxb-kill",
        SLACK_API_URL=fake_slack.url, SLACK_CHANNEL="C0ALERTS", SLACK_POST_INTERVAL="0",
        SLACK_TIMEOUT="10", DELIVERY_THREADS="2", STORM_ROLLUP="on",
    )


def _text(message) -> str:
    return message.text + json.dumps(message.blocks, ensure_ascii=False)


def _action_ids(message):
    return {e.get("action_id") for b in message.blocks if b.get("type") == "actions"
            for e in b.get("elements", [])}


def test_kill_9_while_posting_a_rollup_then_restart_keeps_one_rollup(
        tmp_path, database_url, fake_slack):
    port = free_port()
    env = _env(database_url, fake_slack)
    # Slack takes its time answering posts: the process dies with posts in flight, which
    # Slack still makes (the fake finishes them), as a real crash would leave them.
    fake_slack.slow("chat.postMessage", 3.0, times=3)
    first = Serve(tmp_path, port, "first", **env).wait_healthy()
    try:
        with requests.Session() as session:
            for number in range(ALERTS):
                response = post_webhook(first.url, trigger(number, "storm"), session=session)
                assert response.status_code == 200, response.text
        wait_for(lambda: any(str(c.args.get("text", "")).startswith("🌩️")
                             for c in fake_slack.calls_to("chat.postMessage")),
                 20, "the roll-up's post under way")
        first.kill_9()
    finally:
        first.stop()
    second = Serve(tmp_path, port, "second", **env).wait_healthy()
    try:
        wait_for(lambda: outbox_idle(database_url), 60, "outbox idle after the restart")
        rollups = [m for m in fake_slack.top_level("C0ALERTS") if m.text.startswith("🌩️")]
        assert len(rollups) == 1, [m.text for m in fake_slack.top_level("C0ALERTS")]
        found = alerts_in_slack(fake_slack)
        assert sorted(found) == list(range(ALERTS))
        assert all(len(found[n].parents) == 1 for n in range(ALERTS)), {
            n: len(found[n].parents) for n in range(ALERTS)}

        with requests.Session() as session:
            for number in range(ALERTS):
                assert post_webhook(second.url, clear(number, "storm"),
                                    session=session).status_code == 200
        wait_for(lambda: outbox_idle(database_url), 60, "clears delivered")
        in_rollup = [n for n in range(ALERTS) if found[n].parents[0].ts == rollups[0].ts]
        assert len(in_rollup) > ALERTS // 2
        assert f"{len(in_rollup)} cleared" in rollups[0].text
        for message in fake_slack.top_level("C0ALERTS"):
            assert "cleared" in message.text.lower()
            assert not {ACKNOWLEDGE, ACKNOWLEDGE_ALL, ACKNOWLEDGE_ONE} & _action_ids(message)
        # Each alert's clear reply is in its parent's thread, and names it.
        for number, alert in alerts_in_slack(fake_slack).items():
            assert any(name_of(number) in _text(reply) for reply in alert.replies), number
        assert JobStatus.DEAD not in job_counts(database_url)
        assert "Traceback" not in second.log()
    finally:
        second.stop()
