"""Install to several workspaces, connect channels, deliver with each workspace's token."""

from __future__ import annotations

import json
import time

import requests

from bot.outbox import queue
from bot.web.services import services
from tests.support.delivery import alert_messages, drain
from tests.support.payloads import load_sample
from tests.support.slack_requests import post_to_slack_endpoint, signed_headers
from tests.support.waiting import wait_for
from tests.support.workspaces import command, connect, install, post_alert


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
    [parent_a] = alert_messages(fake_slack, "C0TEAMA")
    assert parent_a.text.startswith("<!here>")  # the route's mention on trigger
    [parent_b] = alert_messages(fake_slack, "C0TEAMB")
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
    wait_for(lambda: services(app).installation_store.find_bot(
        enterprise_id=None, team_id="T0A") is None, 5, "T0A's installation removed")
    wait_for(lambda: queue.list_jobs(worker.database, dead_only=True), 5, "T0A's jobs dead")
    # The alert, and the announcement of the connect, both queued before the uninstall.
    dead = queue.list_jobs(worker.database, dead_only=True)
    assert sorted(job.kind for job in dead) == ["alert_trigger", "announcement"]
    assert all("app_uninstalled" in job.last_error for job in dead)
    assert post_alert(url_a, token_a, "test").status_code == 410
    # The other workspace is untouched.
    assert post_alert(url_b, token_b).status_code == 200
    drain(worker)
    assert {c.token for c in fake_slack.calls_to("chat.postMessage", ok_only=True)} == {"xoxb-team-b"}
