"""``python -m bot serve`` as a user runs it: gunicorn, delivery threads, send-sample."""

from __future__ import annotations

import json
import re
import time

import pytest
import requests

from tests.conftest import WEBHOOK_TOKEN
from tests.support.fake_socket_mode import FakeSocketMode
from tests.support.processes import BotProcess, bot_env, free_port, run_bot
from tests.support.waiting import wait_for


@pytest.fixture
def served(tmp_path, database_url, fake_slack):
    port = free_port()
    env = bot_env(
        DATABASE_URL=database_url, PORT=str(port), SLACK_BOT_TOKEN="xoxb-serve-test",
        SLACK_API_URL=fake_slack.url, SLACK_CHANNEL="C0ALERTS", WEBHOOK_TOKEN="serve-token-0123456789",
        SLACK_POST_INTERVAL="0.2",
    )
    process = BotProcess("serve", "--host", "127.0.0.1", env=env, log_path=tmp_path / "serve.log",
                         cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    process.wait_healthy(url)
    yield url, env, process
    process.stop()


def test_send_sample_trigger_then_clear_makes_a_thread(served, fake_slack, tmp_path):
    url, env, process = served
    webhook = url + "/webhooks/thousandeyes"
    sample = ("--url", webhook, "--token", "serve-token-0123456789")
    trigger = run_bot("send-sample", "trigger", *sample, env=env, cwd=tmp_path)
    assert trigger.returncode == 0 and '"accepted"' in trigger.stdout
    wait_for(lambda: len(fake_slack.top_level()) == 1)
    clear = run_bot("send-sample", "clear", *sample, env=env, cwd=tmp_path)
    assert clear.returncode == 0
    wait_for(lambda: len(fake_slack.calls_to("chat.update", ok_only=True)) == 1)
    [parent] = fake_slack.top_level()
    [reply] = fake_slack.thread(parent)
    assert reply.thread_ts == parent.ts
    assert "cleared" in parent.text.lower()
    # The article's payload as it is: sent twice, the second is a duplicate.
    for answer in ('"accepted"', '"duplicate"'):
        assert answer in run_bot("send-sample", "clear", "--as-is", *sample, env=env).stdout
    assert "gunicorn" in process.log().lower() or "Booting worker" in process.log()


def slack_dates(message) -> list[int]:
    """The instants of the <!date^…> tokens of a message, as Slack would show them."""
    return [int(found) for found in re.findall(r"<!date\^(\d+)\^", json.dumps(message.blocks))]


def test_each_send_sample_trigger_is_a_new_alert_dated_now(served, fake_slack, tmp_path):
    url, env, _process = served
    sample = ("--url", url + "/webhooks/thousandeyes", "--token", "serve-token-0123456789")
    for count in (1, 2):
        result = run_bot("send-sample", "trigger", *sample, env=env, cwd=tmp_path)
        assert '"accepted"' in result.stdout, result.stdout + result.stderr
        wait_for(lambda count=count: len(fake_slack.top_level()) == count)
    first, second = fake_slack.top_level()
    for parent in (first, second):
        assert slack_dates(parent) and all(abs(d - time.time()) < 120 for d in slack_dates(parent))
    # The clear ends the last trigger sent: its parent is updated, a reply in its thread.
    assert run_bot("send-sample", "clear", *sample, env=env, cwd=tmp_path).returncode == 0
    wait_for(lambda: len(fake_slack.thread(second)) == 1 and "cleared" in second.text.lower())
    assert "cleared" not in first.text.lower()
    assert "after *" in json.dumps(fake_slack.thread(second)[0].blocks)  # a duration, not 3699d
    assert not re.search(r"\d{3,}d", json.dumps(fake_slack.thread(second)[0].blocks))
    # The agent samples are one alert: its clear closes the trigger.
    for name in ("agent-trigger", "agent-clear"):
        assert run_bot("send-sample", name, *sample, env=env, cwd=tmp_path).returncode == 0
    wait_for(lambda: len(fake_slack.top_level()) == 3)
    agent_parent = fake_slack.top_level()[2]
    wait_for(lambda: len(fake_slack.thread(agent_parent)) == 1
             and "cleared" in agent_parent.text.lower())
    assert len(fake_slack.top_level()) == 3  # no lone clear


def test_send_sample_clear_without_a_trigger_says_what_to_do(tmp_path):
    result = run_bot("send-sample", "clear", env=bot_env(), cwd=tmp_path)
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "send-sample trigger" in result.stderr and "--as-is" in result.stderr


def test_send_sample_with_wrong_token_is_refused(served):
    url, env, _process = served
    result = run_bot("send-sample", "test", "--url", url + "/webhooks/thousandeyes",
                     "--token", "wrong", env=env)
    assert result.returncode == 1 and result.stdout.startswith("401")


def test_serve_without_slack_credentials_logs_messages(tmp_path):
    port = free_port()
    env = bot_env(PORT=str(port))
    process = BotProcess("serve", "--host", "127.0.0.1", env=env, log_path=tmp_path / "serve.log",
                         cwd=tmp_path)
    try:
        process.wait_healthy(f"http://127.0.0.1:{port}")
        for name in ("test", "trigger", "clear", "agent-trigger", "agent-clear"):
            result = run_bot("send-sample", name, "--url",
                             f"http://127.0.0.1:{port}/webhooks/thousandeyes", env=env,
                             cwd=tmp_path)
            assert result.returncode == 0, result.stdout + result.stderr
        wait_for(lambda: process.log().count("log-only delivery") >= 6)
        log = process.log()
        assert log.count("SLACK_BOT_TOKEN is not set") == 1
        assert "WEBHOOK ENDPOINT IS OPEN" in log
        # The default database is a SQLite file under ./data/.
        assert (tmp_path / "data" / "thousandeyes-bot.sqlite3").exists()
    finally:
        process.stop()


def test_invalid_configuration_names_the_variable(tmp_path):
    result = run_bot("serve", env=bot_env(PORT="eighty", WEBHOOK_BASIC_AUTH="nocolon",
                                          SLACK_CHANNEL="not a channel"), cwd=tmp_path)
    assert result.returncode == 2
    assert "PORT: must be a whole number" in result.stderr
    assert "WEBHOOK_BASIC_AUTH: must have the form user:password" in result.stderr
    assert "SLACK_CHANNEL" in result.stderr
    assert "nocolon" not in result.stderr  # a credential is never echoed


def test_socket_mode_connects_with_the_app_token(tmp_path, database_url, fake_slack):
    socket_server = FakeSocketMode().start()
    fake_slack.socket_mode_url = socket_server.url
    port = free_port()
    env = bot_env(DATABASE_URL=database_url, PORT=str(port), SLACK_BOT_TOKEN="xoxb-socket",
                  SLACK_APP_TOKEN="xapp-socket-token", SLACK_API_URL=fake_slack.url,
                  SLACK_CHANNEL="C0ALERTS", WEBHOOK_TOKEN=WEBHOOK_TOKEN)
    process = BotProcess("serve", "--host", "127.0.0.1", env=env,
                         log_path=tmp_path / "serve.log", cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        process.wait_healthy(url)
        wait_for(lambda: "Socket Mode connected" in process.log(), timeout=30)
        call = fake_slack.calls_to("apps.connections.open")[0]
        assert call.token == "xapp-socket-token"
        assert requests.get(url + "/healthz", timeout=10).json()["socket_mode"] == "connected"
        log = process.log()
        assert "xapp-socket-token" not in log  # never logged
        assert "A new session has been established" not in log  # slack_sdk's chatter
    finally:
        process.stop()
        socket_server.stop()


def test_an_app_token_without_a_bot_token_says_socket_mode_needs_both(tmp_path):
    port = free_port()
    env = bot_env(PORT=str(port), SLACK_APP_TOKEN="xapp-alone")
    process = BotProcess("serve", "--host", "127.0.0.1", env=env,
                         log_path=tmp_path / "serve.log", cwd=tmp_path)
    try:
        process.wait_healthy(f"http://127.0.0.1:{port}")
        log = process.log()
        assert log.count("Socket Mode needs both") == 1
        assert "set SLACK_BOT_TOKEN" in log and "xapp-alone" not in log
    finally:
        process.stop()


def test_serve_refuses_to_start_when_migrations_cannot_run(tmp_path):
    # Nothing listens on port 1: the database cannot be reached to apply migrations.
    result = run_bot("serve", "--host", "127.0.0.1", "--port", str(free_port()),
                     env=bot_env(DATABASE_URL="postgresql://bot@127.0.0.1:1/bot"), cwd=tmp_path,
                     timeout=60)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()  # why, once (not also "migrations failed")
    assert "cannot use the database at DATABASE_URL=postgresql://bot@127.0.0.1:1/bot" in line
