"""Only the injected Config decides how Bolt behaves, whatever the process environment
holds: Bolt reads SLACK_* variables itself when an argument is missing."""

from __future__ import annotations

import os

import requests

from bot.process.app import create_app
from bot.web.services import services
from tests.support.servers import LiveServer
from tests.support.slack_requests import post_to_slack_endpoint, signed_headers, slash_command_body


def test_environment_variables_do_not_reach_bolt(slack_config, monkeypatch):
    monkeypatch.setenv("SLACK_CLIENT_ID", "1111.2222")
    monkeypatch.setenv("SLACK_CLIENT_SECRET", "env-client-secret")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "env-signing-secret")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-the-environment")
    app = create_app(slack_config)  # single workspace: a bot token, no client id
    try:
        with LiveServer(app) as server:
            # No install flow: Bolt did not build one from SLACK_CLIENT_ID/SECRET.
            install = requests.get(server.url + "/slack/install", timeout=10)
            assert install.status_code == 404
            body = slash_command_body("help", channel_id="C0ALERTS")
            forged = post_to_slack_endpoint(
                server.url, body, signed_headers(body, secret="env-signing-secret"))
            assert forged.status_code == 401
            signed = post_to_slack_endpoint(server.url, body, signed_headers(body))
            assert signed.status_code == 200 and "/thousandeyes status" in signed.json()["text"]
    finally:
        services(app).database.dispose()
    # The environment is as it was.
    assert os.environ["SLACK_CLIENT_ID"] == "1111.2222"
    assert os.environ["SLACK_BOT_TOKEN"] == "xoxb-from-the-environment"
