"""``python -m bot serve`` as a user runs it: gunicorn, delivery threads, send-sample."""

from __future__ import annotations


import pytest
import requests

from tests.conftest import WEBHOOK_TOKEN
from tests.faults.helpers import outbox_idle
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


def test_send_sample_trigger_then_clear_makes_a_thread(served, fake_slack):
    url, env, process = served
    webhook = url + "/webhooks/thousandeyes"
    trigger = run_bot("send-sample", "trigger", "--url", webhook, "--token", "serve-token-0123456789", env=env)
    assert trigger.returncode == 0 and '"accepted"' in trigger.stdout
    wait_for(lambda: len(fake_slack.top_level()) == 1)
    clear = run_bot("send-sample", "clear", "--url", webhook, "--token", "serve-token-0123456789", env=env)
    assert clear.returncode == 0
    wait_for(lambda: len(fake_slack.calls_to("chat.update", ok_only=True)) == 1)
    [parent] = fake_slack.top_level()
    [reply] = fake_slack.thread(parent)
    assert reply.thread_ts == parent.ts
    assert "cleared" in parent.text.lower()
    # Nothing is posted twice, even when the sample is sent again.
    again = run_bot("send-sample", "clear", "--url", webhook, "--token", "serve-token-0123456789", env=env)
    assert '"duplicate"' in again.stdout
    # Every job done: whatever the three samples made has been posted.
    wait_for(lambda: outbox_idle(env["DATABASE_URL"]), message="outbox idle")
    assert len(fake_slack.calls_to("chat.postMessage")) == 2
    assert "gunicorn" in process.log().lower() or "Booting worker" in process.log()


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
                             f"http://127.0.0.1:{port}/webhooks/thousandeyes", env=env)
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
    assert "database migrations failed" in result.stderr
