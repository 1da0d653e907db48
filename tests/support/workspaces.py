"""Two workspaces that installed the app, and the commands their members type.

Workspace A (``T0A``, bot token ``xoxb-team-a``) has channel ``C0TEAMA``, workspace B
(``T0B``, ``xoxb-team-b``) has ``C0TEAMB``; ``C0SHARED`` is a channel both are in, as
with Slack Connect. Each has a member (``U0ALICE`` in A, ``U0BETTY`` in B), a second
member who is not an admin (``U0BOB``, ``U0BILL``) and an admin (``U0CAROL``,
``U0BADMIN``), as ``users.info`` describes them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests

from bot.config import Config
from bot.delivery.runner import DeliveryWorker
from bot.process.app import create_app
from bot.web.services import services
from tests.support.fake_slack import FakeSlack
from tests.support.payloads import load_sample
from tests.support.servers import LiveServer
from tests.support.slack_requests import (
    SIGNING_SECRET,
    post_to_slack_endpoint,
    signed_headers,
    slash_command_body,
)

CLIENT = ("1111.2222", "client-secret-xyz")
PUBLIC_URL = "https://bot.example.com"
TEAM_A, TEAM_B = "T0A", "T0B"
TOKEN_A, TOKEN_B = "xoxb-team-a", "xoxb-team-b"


def add_workspaces(fake_slack: FakeSlack) -> None:
    fake_slack.add_channel("C0TEAMA", "alerts-a")
    fake_slack.add_channel("C0TEAMB", "alerts-b")
    fake_slack.add_channel("C0SHARED", "shared-alerts")
    fake_slack.oauth_codes.update({"code-a": (TEAM_A, TOKEN_A), "code-b": (TEAM_B, TOKEN_B)})
    fake_slack.client_credentials = CLIENT
    for user_id in ("U0ALICE", "U0BOB"):
        fake_slack.add_user(user_id, TEAM_A)
    fake_slack.add_user("U0CAROL", TEAM_A, admin=True)
    for user_id in ("U0BETTY", "U0BILL"):
        fake_slack.add_user(user_id, TEAM_B)
    fake_slack.add_user("U0BADMIN", TEAM_B, owner=True)


@contextmanager
def multi_workspace_server(
    database_url: str, fake_slack: FakeSlack, **settings: Any
) -> Iterator[tuple[LiveServer, DeliveryWorker, Any]]:
    """The service in multi-workspace mode, serving over HTTP, with a worker to drain."""
    add_workspaces(fake_slack)
    config = Config(
        database_url=database_url, slack_client_id=CLIENT[0], slack_client_secret=CLIENT[1],
        slack_signing_secret=SIGNING_SECRET, slack_api_url=fake_slack.url,
        public_url=PUBLIC_URL, slack_post_interval=0, delivery_threads=0,
        **settings,
    )
    app = create_app(config)
    worker = DeliveryWorker(config, services(app).database, backoff=lambda attempts: 0.05)
    try:
        with LiveServer(app) as server:
            yield server, worker, app
    finally:
        worker.stop()
        services(app).database.dispose()


def install(server: LiveServer, code: str) -> requests.Response:
    """The browser side of "Add to Slack": open the install page, come back with a code."""
    page = requests.get(server.url + "/slack/install", timeout=10)
    assert page.status_code == 200
    match = re.search(r"state=([A-Za-z0-9\-]+)", page.text)
    assert match and "slack.com/oauth/v2/authorize" in page.text
    assert f"client_id={CLIENT[0]}" in page.text and "scope=chat:write," in page.text
    # The state cookie is Secure (production is https); a browser would send it back.
    cookie = page.headers["Set-Cookie"].split(";", 1)[0]
    assert match.group(1) in cookie
    return requests.get(server.url + "/slack/oauth_redirect", headers={"Cookie": cookie},
                        params={"code": code, "state": match.group(1)}, timeout=10)


def install_both(server: LiveServer) -> None:
    assert install(server, "code-a").status_code == 200
    assert install(server, "code-b").status_code == 200


def send_command(server: LiveServer, text: str, channel_id: str, team_id: str,
                 user_id: str = "U0ALICE") -> requests.Response:
    body = slash_command_body(text, channel_id=channel_id, user_id=user_id, team_id=team_id)
    return post_to_slack_endpoint(server.url, body, signed_headers(body))


def command(server: LiveServer, text: str, channel_id: str, team_id: str,
            user_id: str = "U0ALICE") -> str:
    """The answer's text, which only the user who typed the command sees."""
    response = send_command(server, text, channel_id, team_id, user_id)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer.get("response_type") == "ephemeral"
    return str(answer["text"])


def connect(server: LiveServer, channel_id: str, team_id: str, options: str = "",
            user_id: str = "U0ALICE") -> tuple[str, str]:
    """Connect a channel; returns its webhook URL (on this server) and token."""
    text = command(server, f"connect {options}".strip(), channel_id, team_id, user_id)
    url = re.search(r"\*URL:\* `([^`]+)`", text)
    token = re.search(r"\*Token:\* `([^`]+)`", text)
    assert url and token, text
    assert url.group(1).startswith(PUBLIC_URL + "/webhooks/thousandeyes/")
    return url.group(1).replace(PUBLIC_URL, server.url), token.group(1)


def post_alert(url: str, token: str, name: str = "trigger") -> requests.Response:
    return requests.post(url, data=json.dumps(load_sample(name)),
                         headers={"Authorization": f"Bearer {token}"}, timeout=10)
