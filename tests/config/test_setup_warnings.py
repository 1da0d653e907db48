"""Half-configured Slack says so at start, one line each, and messages offer no button
that could not work."""

from __future__ import annotations

import json

import pytest

from bot.config import Config
from bot.config.setup_warnings import setup_warnings
from bot.render.actions import ACKNOWLEDGE, UNACKNOWLEDGE, VIEW_IN_THOUSANDEYES
from tests.conftest import WEBHOOK_TOKEN
from tests.support.delivery import drain, send, serving
from tests.support.payloads import load_sample
from tests.support.processes import BotProcess, bot_env, free_port
from tests.support.waiting import wait_for


def action_ids(message) -> list[str]:
    return [element.get("action_id") for block in message.blocks if block.get("type") == "actions"
            for element in block.get("elements", [])]


@pytest.mark.parametrize(("settings", "expected"), [
    ({}, []),
    ({"slack_bot_token": "xoxb-1", "slack_channel": "#alerts", "slack_signing_secret": "s"}, []),
    ({"slack_bot_token": "xoxb-1", "slack_channel": "#alerts", "slack_app_token": "xapp-1"}, []),
    ({"slack_bot_token": "xoxb-1", "slack_signing_secret": "s"}, ["SLACK_CHANNEL is not"]),
    ({"slack_bot_token": "xoxb-1", "slack_channel": "#alerts"}, ["Acknowledge buttons are hidden"]),
    ({"slack_app_token": "xapp-1"}, ["Socket Mode needs both"]),
    ({"slack_app_token": "xapp-1", "slack_signing_secret": "s"}, ["Socket Mode needs both"]),
    # Many workspaces over Socket Mode: each workspace's own token answers.
    ({"slack_client_id": "1.2", "slack_client_secret": "c", "slack_app_token": "xapp-1"}, []),
    # One Socket Mode connection per web worker; Slack allows 10 per app.
    ({"slack_bot_token": "xoxb-1", "slack_channel": "#alerts", "slack_app_token": "xapp-1",
      "web_concurrency": 10}, []),
    ({"slack_bot_token": "xoxb-1", "slack_channel": "#alerts", "slack_app_token": "xapp-1",
      "web_concurrency": 11}, ["WEB_CONCURRENCY=11 opens 11 Socket Mode connections"]),
    ({"slack_bot_token": "xoxb-1", "slack_channel": "#alerts", "slack_signing_secret": "s",
      "web_concurrency": 12}, []),
])
def test_each_half_configuration_is_one_warning(settings, expected):
    warnings = setup_warnings(Config(**settings))
    assert len(warnings) == len(expected)
    for warning, words in zip(warnings, expected, strict=True):
        assert words in warning and "\n" not in warning


def test_serve_warns_once_per_problem_and_never_shows_the_token(tmp_path):
    port = free_port()
    env = bot_env(PORT=str(port), SLACK_BOT_TOKEN="xoxb-half-configured",
                  SLACK_API_URL="http://127.0.0.1:9/api/", WEBHOOK_TOKEN=WEBHOOK_TOKEN)
    process = BotProcess("serve", "--host", "127.0.0.1", env=env,
                         log_path=tmp_path / "serve.log", cwd=tmp_path)
    try:
        process.wait_healthy(f"http://127.0.0.1:{port}")
        wait_for(lambda: "SLACK_CHANNEL is not:" in process.log())
        log = process.log()
        assert log.count("SLACK_CHANNEL is not:") == 1
        assert log.count("Acknowledge buttons are hidden") == 1
        assert "xoxb-half-configured" not in log
    finally:
        process.stop()


def test_no_acknowledge_button_where_clicks_cannot_arrive(slack_config, fake_slack):
    config = slack_config.with_overrides(slack_signing_secret=None)
    assert not config.clicks_arrive
    with serving(config) as (server, worker):
        send(server, load_sample("trigger"))
        drain(worker)
    [parent] = fake_slack.top_level("C0ALERTS")
    assert ACKNOWLEDGE not in action_ids(parent) and UNACKNOWLEDGE not in action_ids(parent)
    assert VIEW_IN_THOUSANDEYES in action_ids(parent)  # a link needs no click to arrive
    assert "Acknowledge" not in json.dumps(parent.blocks)


def test_socket_mode_alone_is_enough_for_buttons(slack_config, fake_slack):
    config = slack_config.with_overrides(slack_signing_secret=None, slack_app_token="xapp-1")
    assert config.clicks_arrive
