"""``LOG_FORMAT=json``: every line ``python -m bot serve`` writes is one JSON object, the
lines about events and jobs carry their ids, and no configured secret is in any of them."""

from __future__ import annotations

import json

import requests

from bot.render.actions import ACKNOWLEDGE
from tests.conftest import WEBHOOK_TOKEN
from tests.faults.helpers import (
    Serve,
    alerts_in_slack,
    clear,
    outbox_idle,
    post_webhook,
    trigger,
)
from tests.support.metrics import scrape
from tests.support.processes import free_port
from tests.support.slack_requests import SIGNING_SECRET, click
from tests.support.waiting import wait_for

SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-json-logs-bot-token-0123",
    "SLACK_APP_TOKEN": "xapp-json-logs-app-token-4567",
    "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    "WEBHOOK_TOKEN": WEBHOOK_TOKEN,
    "METRICS_TOKEN": "metrics-json-logs-token-89ab",
    "OAUTH_ADMIN_PASSWORD": "oauth-admin-password-cdef",
}


def test_json_lines_with_ids_and_no_secret(tmp_path, database_url, fake_slack):
    serve = Serve(tmp_path, free_port(), "serve", LOG_FORMAT="json", LOG_LEVEL="DEBUG",
                  DATABASE_URL=database_url, SLACK_API_URL=fake_slack.url,
                  SLACK_CHANNEL="C0ALERTS", SLACK_POST_INTERVAL="0", DELIVERY_THREADS="2",
                  **SECRETS)
    try:
        serve.wait_healthy(60)
        assert post_webhook(serve.url, trigger(1)).status_code == 200
        assert post_webhook(serve.url, trigger(1)).status_code == 200  # a duplicate
        assert requests.post(serve.url + "/webhooks/thousandeyes", json=trigger(2), timeout=10,
                             headers={"Authorization": "Bearer not-the-token"}).status_code == 401
        parent = wait_for(lambda: (alerts_in_slack(fake_slack).get(1) or None) and
                          alerts_in_slack(fake_slack)[1].parents[0], 60, "parent posted")
        value = next(e["value"] for b in parent.blocks if b["type"] == "actions"
                     for e in b["elements"] if e["action_id"] == ACKNOWLEDGE)
        assert click(serve.url, ACKNOWLEDGE, value, user_id="U0ALICE", user_name="alice",
                     channel_id=parent.channel, message_ts=parent.ts).status_code == 200
        wait_for(lambda: fake_slack.thread(parent), 60, "the click's note posted")
        wait_for(lambda: outbox_idle(database_url), 60, "outbox idle")
        fake_slack.fail("chat.postMessage", status=429, retry_after=1, times=1)
        fake_slack.fail("chat.postMessage", error="msg_too_long", times=1)
        assert post_webhook(serve.url, trigger(3)).status_code == 200  # 429, then dead
        wait_for(lambda: outbox_idle(database_url), 60, "outbox idle")
        assert post_webhook(serve.url, clear(1)).status_code == 200
        wait_for(lambda: outbox_idle(database_url), 60, "outbox idle")
        assert requests.get(serve.url + "/metrics", timeout=10).status_code == 401
        metrics = scrape(serve.url, token=SECRETS["METRICS_TOKEN"])
        assert metrics.value("thousandeyes_socket_mode_connected") == 0  # fake Slack: no socket
        health = requests.get(serve.url + "/healthz", timeout=10).json()
        assert health["socket_mode"] in ("connecting", "disconnected")
    finally:
        serve.stop()

    lines = [line for line in serve.log().splitlines() if line.strip()]
    records = []
    for line in lines:
        record = json.loads(line)  # every line, gunicorn's included
        assert {"timestamp", "level", "logger", "message"} <= set(record), line
        records.append(record)
    text = "\n".join(lines)
    for name, secret in SECRETS.items():
        assert secret not in text, f"{name} is in the log"

    accepted = [r for r in records if r.get("outcome") == "accepted"]
    assert accepted and accepted[0]["route"] == "default" and accepted[0]["event_id"]
    assert accepted[0]["alert_key"]
    assert any(r.get("outcome") == "duplicate" for r in records)
    delivered = [r for r in records if r.get("outcome") == "delivered"]
    assert {r["job_kind"] for r in delivered} >= {"alert_trigger", "ack_note", "alert_clear"}
    assert all(isinstance(r["job_id"], int) for r in delivered)
    # A post knows its channel; an update of the parent (refresh) is not paced per channel.
    assert all(r["channel"] == "C0ALERTS" for r in delivered if r["job_kind"] != "refresh_parent")
    assert any(r.get("outcome") == "retry" and r.get("error_code") == "ratelimited"
               for r in records)
    dead = [r for r in records if r.get("outcome") == "dead"]
    assert dead and dead[0]["error_code"] == "msg_too_long" and dead[0]["level"] == "ERROR"
    assert any(r["logger"].startswith("gunicorn") for r in records)
