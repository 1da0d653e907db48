"""A bot token Slack refuses is said at once: at start in one log line, then on the front
page and in /healthz (still 200: webhooks are stored), asked at most once a minute."""

from __future__ import annotations

import logging

import pytest
import requests

from bot.process.app import create_app
from bot.slack.gateway import WebApiGateway
from bot.slack.token_check import BotTokenCheck
from bot.web.services import services
from tests.support.processes import BotProcess, bot_env, free_port
from tests.support.servers import LiveServer
from tests.support.waiting import wait_for

TOKEN = "xoxb-test-token"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_fake_answers_auth_test_as_slack_documents(fake_slack):
    answer = WebApiGateway(TOKEN, fake_slack.url).auth_test()
    assert answer["ok"] is True
    assert {"team_id", "user_id", "bot_id", "team", "user", "url"} <= set(answer)


@pytest.mark.parametrize("code", ["invalid_auth", "token_revoked", "account_inactive"])
def test_a_refused_token_is_one_log_line_however_often_it_is_asked(fake_slack, caplog, code):
    clock = Clock()
    check = BotTokenCheck(WebApiGateway(TOKEN, fake_slack.url).auth_test, clock=clock)
    assert check.refresh() == "ok" and check.problem is None
    fake_slack.refused_tokens[TOKEN] = code
    clock.now += 59
    assert check.refresh() == "ok"  # asked less than a minute ago: not asked again
    assert len(fake_slack.calls_to("auth.test")) == 1
    with caplog.at_level(logging.INFO, logger="bot.slack.token_check"):
        for _minute in range(3):
            clock.now += 60
            assert check.refresh() == code
    assert len(fake_slack.calls_to("auth.test")) == 4
    [line] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert code in line and "SLACK_BOT_TOKEN" in line and TOKEN not in line
    # Given back (the app reinstalled, the variable changed): ok again.
    del fake_slack.refused_tokens[TOKEN]
    clock.now += 60
    assert check.refresh() == "ok" and check.problem is None


def test_an_unreachable_slack_is_not_a_refused_token(fake_slack):
    check = BotTokenCheck(WebApiGateway(TOKEN, fake_slack.url).auth_test)
    fake_slack.go_down("refuse")
    assert check.refresh() == "configured" and not check.refused


def test_healthz_and_the_front_page_say_the_token_is_refused(slack_config, fake_slack):
    fake_slack.refused_tokens[slack_config.slack_bot_token] = "token_revoked"
    app = create_app(slack_config)
    with LiveServer(app) as server:
        health = requests.get(server.url + "/healthz", timeout=10)
        assert health.status_code == 200
        assert health.json()["slack"] == "token_revoked" and health.json()["status"] == "ok"
        page = requests.get(server.url + "/", timeout=10).text
        assert "Slack refuses SLACK_BOT_TOKEN (token_revoked)" in page
        assert slack_config.slack_bot_token not in page
    services(app).database.dispose()


def test_a_good_token_is_ok_in_healthz(slack_server):
    assert requests.get(slack_server.url + "/healthz", timeout=10).json()["slack"] == "ok"


def test_serve_checks_the_token_at_start(tmp_path, database_url, fake_slack):
    fake_slack.refused_tokens["xoxb-revoked"] = "token_revoked"
    port = free_port()
    env = bot_env(DATABASE_URL=database_url, PORT=str(port), SLACK_BOT_TOKEN="xoxb-revoked",
                  SLACK_API_URL=fake_slack.url, SLACK_CHANNEL="C0ALERTS")
    process = BotProcess("serve", "--host", "127.0.0.1", env=env,
                         log_path=tmp_path / "serve.log", cwd=tmp_path)
    try:
        process.wait_healthy(f"http://127.0.0.1:{port}")
        wait_for(lambda: "Slack refuses SLACK_BOT_TOKEN" in process.log())
        assert fake_slack.calls_to("auth.test")[0].token == "xoxb-revoked"
        assert process.log().count("Slack refuses SLACK_BOT_TOKEN (token_revoked)") == 1
        assert "xoxb-revoked" not in process.log()
    finally:
        process.stop()
