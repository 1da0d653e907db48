"""Install to several workspaces, connect channels, deliver with each workspace's token."""

from __future__ import annotations

import json
import re
import time

import pytest
import requests

from bot.app import create_app
from bot.config import Config
from bot.delivery import queue
from bot.delivery.runner import DeliveryWorker
from bot.services import services
from tests.support.delivery import drain
from tests.support.payloads import load_sample
from tests.support.servers import LiveServer
from tests.support.slack_requests import (
    SIGNING_SECRET,
    post_to_slack_endpoint,
    signed_headers,
    slash_command_body,
)

CLIENT = ("1111.2222", "client-secret-xyz")


@pytest.fixture
def multi(database_url, fake_slack):
    fake_slack.add_channel("C0TEAMA", "alerts-a")
    fake_slack.add_channel("C0TEAMB", "alerts-b")
    fake_slack.oauth_codes.update({"code-a": ("T0A", "xoxb-team-a"), "code-b": ("T0B", "xoxb-team-b")})
    fake_slack.client_credentials = CLIENT
    config = Config(
        database_url=database_url, slack_client_id=CLIENT[0], slack_client_secret=CLIENT[1],
        slack_signing_secret=SIGNING_SECRET, slack_api_url=fake_slack.url,
        public_url="https://bot.example.com", slack_post_interval=0, delivery_threads=0,
    )
    app = create_app(config)
    worker = DeliveryWorker(config, services(app).database, backoff=lambda attempts: 0.05)
    with LiveServer(app) as server:
        yield server, worker, app
    services(app).database.dispose()


def install(server, code):
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


def command(server, text, channel_id, team_id, user_id="U0ALICE"):
    body = slash_command_body(text, channel_id=channel_id, user_id=user_id).replace(
        "team_id=T0FAKE", f"team_id={team_id}")
    response = post_to_slack_endpoint(server.url, body, signed_headers(body))
    assert response.status_code == 200, response.text
    return response.json()["text"]


def connect(server, channel_id, team_id, options=""):
    text = command(server, f"connect {options}".strip(), channel_id, team_id)
    url = re.search(r"\*URL:\* `([^`]+)`", text).group(1)
    token = re.search(r"\*Token:\* `([^`]+)`", text).group(1)
    assert url.startswith("https://bot.example.com/webhooks/thousandeyes/")
    return url.replace("https://bot.example.com", server.url), token


def post_alert(url, token, name="trigger"):
    return requests.post(url, data=json.dumps(load_sample(name)),
                         headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_install_checks_state_and_stores_the_bot_token(multi, fake_slack):
    server, _worker, app = multi
    done = install(server, "code-a")
    assert done.status_code == 200
    [access] = fake_slack.calls_to("oauth.v2.access")
    assert access.args["code"] == "code-a"
    bot = services(app).installation_store.find_bot(enterprise_id=None, team_id="T0A")
    assert bot.bot_token == "xoxb-team-a"

    # A forged or replayed state is refused and nothing is exchanged.
    forged = requests.get(server.url + "/slack/oauth_redirect",
                          params={"code": "code-b", "state": "forged-state"}, timeout=10)
    assert forged.status_code >= 400
    assert len(fake_slack.calls_to("oauth.v2.access")) == 1
    assert services(app).installation_store.find_bot(enterprise_id=None, team_id="T0B") is None


def test_two_workspaces_get_their_alerts_with_their_own_tokens(multi, fake_slack):
    server, worker, _app = multi
    assert install(server, "code-a").status_code == 200
    assert install(server, "code-b").status_code == 200
    url_a, token_a = connect(server, "C0TEAMA", "T0A", "@here")
    url_b, token_b = connect(server, "C0TEAMB", "T0B", "broadcast")
    assert post_alert(url_a, token_a).json()["status"] == "accepted"
    assert post_alert(url_b, token_b).json()["status"] == "accepted"
    # The same event on two routes is two deliveries, not a duplicate.
    drain(worker)
    posts = {c.args["channel"]: c.token for c in fake_slack.calls_to("chat.postMessage", ok_only=True)}
    assert posts == {"C0TEAMA": "xoxb-team-a", "C0TEAMB": "xoxb-team-b"}
    [parent_a] = fake_slack.top_level("C0TEAMA")
    assert parent_a.text.startswith("<!here>")  # the route's mention on trigger
    [parent_b] = fake_slack.top_level("C0TEAMB")
    assert "<!here>" not in parent_b.text

    assert post_alert(url_b, token_b, "clear").status_code == 200
    drain(worker)
    [reply] = fake_slack.thread(parent_b)
    assert reply.reply_broadcast  # the route asked for broadcast clears
    assert "<!here>" not in parent_a.text or parent_a.updates == 0


def test_route_token_is_required_and_wrong_one_refused(multi, fake_slack):
    server, _worker, _app = multi
    install(server, "code-a")
    url, token = connect(server, "C0TEAMA", "T0A")
    assert post_alert(url, "wrong-token").status_code == 401
    assert requests.post(url, json=load_sample("test"), timeout=10).status_code == 401
    assert post_alert(url, token, "test").status_code == 200
    assert post_alert(url + "?channel=C0TEAMB", token, "test").status_code == 400
    missing = requests.post(server.url + "/webhooks/thousandeyes/0123456789abcdef",
                            json=load_sample("test"), headers={"Authorization": f"Bearer {token}"},
                            timeout=10)
    assert missing.status_code == 404 and "connect" in missing.json()["message"]


def test_connect_list_disconnect(multi, fake_slack):
    server, _worker, _app = multi
    install(server, "code-a")
    url, token = connect(server, "C0TEAMA", "T0A", "<!subteam^S0ONCALL|@oncall>")
    route_id = url.rsplit("/", 1)[-1]
    listing = command(server, "list", "C0TEAMA", "T0A")
    assert route_id in listing and "S0ONCALL" in listing and token not in listing
    assert "<!subteam" not in listing  # listing never pings the group
    assert "no webhooks" in command(server, "list", "C0TEAMB", "T0A")
    # Another channel cannot disconnect it.
    assert "No webhook" in command(server, f"disconnect {route_id}", "C0TEAMB", "T0A")
    assert "Disconnected" in command(server, f"disconnect {route_id}", "C0TEAMA", "T0A")
    gone = post_alert(url, token)
    assert gone.status_code == 410 and "disconnected" in gone.json()["message"]
    assert "no webhooks" in command(server, "list", "C0TEAMA", "T0A")
    assert "don't understand" in command(server, "connect @everyone", "C0TEAMA", "T0A")


def test_uninstall_disables_routes_and_stops_jobs(multi, fake_slack):
    server, worker, app = multi
    install(server, "code-a")
    install(server, "code-b")
    url_a, token_a = connect(server, "C0TEAMA", "T0A")
    url_b, token_b = connect(server, "C0TEAMB", "T0B")
    assert post_alert(url_a, token_a).status_code == 200  # queued, not yet delivered
    event = {"token": "legacy", "team_id": "T0A", "api_app_id": "A0APP", "type": "event_callback",
             "event_id": "Ev0UNINSTALL", "event_time": int(time.time()),
             "event": {"type": "app_uninstalled"}}
    body = json.dumps(event)
    headers = signed_headers(body) | {"Content-Type": "application/json"}
    assert post_to_slack_endpoint(server.url, body, headers).status_code == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and services(app).installation_store.find_bot(
            enterprise_id=None, team_id="T0A") is not None:
        time.sleep(0.05)
    assert services(app).installation_store.find_bot(enterprise_id=None, team_id="T0A") is None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not queue.list_jobs(worker.database, dead_only=True):
        time.sleep(0.05)
    [dead] = queue.list_jobs(worker.database, dead_only=True)
    assert "uninstalled" in dead.last_error or "app_uninstalled" in dead.last_error
    assert post_alert(url_a, token_a, "test").status_code == 410
    # The other workspace is untouched.
    assert post_alert(url_b, token_b).status_code == 200
    drain(worker)
    assert [c.token for c in fake_slack.calls_to("chat.postMessage", ok_only=True)] == ["xoxb-team-b"]
