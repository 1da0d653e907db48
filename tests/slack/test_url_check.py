"""Slack's Request URL check passes with only the signing secret set: the README's order
creates the app (and pastes the URL) before the bot token exists."""

from __future__ import annotations

import json

import pytest
import requests

from bot.config import Config
from bot.process.app import create_app
from bot.web.services import services
from tests.support.servers import LiveServer
from tests.support.slack_requests import (
    SIGNING_SECRET,
    block_action_body,
    signed_headers,
)

CHALLENGE = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"


def url_verification(secret: str = SIGNING_SECRET) -> tuple[str, dict[str, str]]:
    body = json.dumps({"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "challenge": CHALLENGE,
                       "type": "url_verification"})
    headers = signed_headers(body, secret)
    headers["Content-Type"] = "application/json"
    return body, headers


@pytest.fixture
def secret_only(database_url):
    app = create_app(Config(database_url=database_url, slack_signing_secret=SIGNING_SECRET,
                            delivery_threads=0))
    with LiveServer(app) as server:
        yield server.url
    services(app).database.dispose()


def test_signed_url_verification_gets_its_challenge_without_a_bot_token(secret_only):
    body, headers = url_verification()
    answer = requests.post(secret_only + "/slack/events", data=body, headers=headers, timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {"challenge": CHALLENGE}


def test_forged_url_verification_is_401(secret_only):
    body, headers = url_verification(secret="not-the-apps-secret")
    answer = requests.post(secret_only + "/slack/events", data=body, headers=headers, timeout=10)
    assert answer.status_code == 401
    assert CHALLENGE not in answer.text


def test_other_requests_still_need_a_bot_token(secret_only):
    body = block_action_body("te_acknowledge", "a1", user_id="U0ALICE", user_name="alice",
                             channel_id="C0ALERTS", message_ts="1.000100")
    answer = requests.post(secret_only + "/slack/events", data=body, headers=signed_headers(body),
                           timeout=10)
    assert answer.status_code == 503
    assert "SLACK_BOT_TOKEN" in answer.json()["message"]


def test_without_a_signing_secret_the_check_cannot_pass(live_server):
    body, headers = url_verification()
    answer = requests.post(live_server.url + "/slack/events", data=body, headers=headers,
                           timeout=10)
    assert answer.status_code == 503
    assert "SLACK_SIGNING_SECRET" in answer.json()["message"]
