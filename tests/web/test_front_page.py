"""``GET /`` in a real headless Chromium: what the service is, what is connected, the
webhook URLs to paste into ThousandEyes, when the last events arrived, and no secret nor
alert data anywhere (the page is public)."""

from __future__ import annotations

import json

import pytest
import requests

from bot.clock import utcnow
from bot.config import Config
from bot.process.app import create_app
from bot.store.routes import RouteOptions, create_route
from bot.web.services import services
from tests.conftest import WEBHOOK_TOKEN
from tests.slack.test_workspaces import install
from tests.support.browser import skip_without_chromium
from tests.support.delivery import send
from tests.support.payloads import load_sample, sample_event
from tests.support.servers import LiveServer

skip_without_chromium()
pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402 (only once selenium is there)

SECRETS = {"slack_bot_token": "xoxb-front-page-secret-1", "slack_signing_secret": "sign-secret-2",
           "webhook_basic_auth": ("te-user", "basic-secret-3")}


@pytest.fixture
def served(slack_config):
    config = slack_config.with_overrides(
        slack_bot_token=SECRETS["slack_bot_token"],
        slack_signing_secret=SECRETS["slack_signing_secret"],
        webhook_basic_auth=SECRETS["webhook_basic_auth"])
    app = create_app(config)
    with LiveServer(app) as server:
        yield server
    services(app).database.dispose()


def text_of(browser, element_id: str) -> str:
    return browser.find_element(By.ID, element_id).text


def test_front_page_says_what_is_connected_and_what_to_paste(served, browser):
    send(served, load_sample("trigger"))
    browser.get(served.url + "/")
    assert browser.title == "ThousandEyes alerts in Slack"
    assert "ThousandEyes alert webhooks into Slack threads" in browser.page_source
    assert text_of(browser, "database").startswith("SQLite: connected") or \
        text_of(browser, "database").startswith("PostgreSQL: connected")
    assert "bot token" in text_of(browser, "slack") and "SLACK_CHANNEL" in text_of(browser, "slack")
    assert "C0ALERTS" not in browser.page_source  # the channel is for the administrator
    webhook = served.url + "/webhooks/thousandeyes"
    assert text_of(browser, "webhook-url") == webhook
    assert text_of(browser, "webhook-url-channel") == webhook + "?channel=alerts-network"
    assert "WEBHOOK_TOKEN" in text_of(browser, "auth")
    events = text_of(browser, "events")
    assert "ALERT_NOTIFICATION_TRIGGER" in events
    assert "OAUTH_ADMIN_PASSWORD" in text_of(browser, "details")
    # The next step for what it sees (an event arrived), and the local address flagged.
    assert "ALERT_NOTIFICATION_TRIGGER" in text_of(browser, "next-step")
    assert "ThousandEyes cannot reach 127.0.0.1" in text_of(browser, "unreachable")


def test_the_url_is_built_from_the_host_the_browser_used(served, browser):
    local = served.url.replace("127.0.0.1", "localhost")
    browser.get(local + "/")
    assert text_of(browser, "webhook-url") == local + "/webhooks/thousandeyes"


def test_no_secret_appears_on_the_page(served):
    page = requests.get(served.url + "/", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    for secret in (SECRETS["slack_bot_token"], SECRETS["slack_signing_secret"],
                   SECRETS["webhook_basic_auth"][1], WEBHOOK_TOKEN, "xoxb-", "xapp-"):
        assert secret not in page.text


def test_log_only_and_half_configured_slack_are_said(database_url, browser, config):
    app = create_app(config.with_overrides(slack_app_token="xapp-only-the-app-token"))
    with LiveServer(app) as server:
        browser.get(server.url + "/")
        assert "not connected" in text_of(browser, "slack")
        assert "Socket Mode needs both" in text_of(browser, "warnings")
        assert "xapp-only-the-app-token" not in browser.page_source
    services(app).database.dispose()


# --- two installed workspaces: the page says what arrived, never what it was about --------

CLIENT = ("1111.2222", "client-secret-xyz")
ADMIN_PASSWORD = "correct horse battery staple"


def named_alert(transition: str, rule: str, test: str, agent: str) -> dict:
    return sample_event(transition, event_id=f"{rule}-{transition}", agent_name=agent,
                        alertId=rule, ruleName=rule, testName=test)


@pytest.fixture
def two_workspaces(database_url, fake_slack):
    """Installed to two workspaces over Slack's OAuth, a channel of each connected, and
    alerts received on both routes, plus one of a type the service does not know."""
    fake_slack.add_channel("C0TEAMA", "alerts-a")
    fake_slack.add_channel("C0TEAMB", "alerts-b")
    fake_slack.oauth_codes.update({"code-a": ("T0A", "xoxb-team-a"),
                                   "code-b": ("T0B", "xoxb-team-b")})
    fake_slack.client_credentials = CLIENT
    app = create_app(Config(
        database_url=database_url, slack_client_id=CLIENT[0], slack_client_secret=CLIENT[1],
        slack_signing_secret="test-signing-secret", slack_api_url=fake_slack.url,
        oauth_admin_password=ADMIN_PASSWORD, delivery_threads=0))
    database = services(app).database
    names = ["T0A", "T0B", "Team T0A", "Team T0B", "C0TEAMA", "C0TEAMB", "alerts-a", "alerts-b"]
    with LiveServer(app) as server:
        for code in ("code-a", "code-b"):
            assert install(server, code).status_code == 200
        for team, channel, rule, test, agent in (
                ("T0A", "C0TEAMA", "Payments latency rule", "checkout.example.com", "Oslo agent"),
                ("T0B", "C0TEAMB", "VPN loss rule", "vpn.example.net", "Lima agent")):
            route, token = create_route(database, team_id=team, channel_id=channel,
                                        created_by="U0ALICE", options=RouteOptions(),
                                        now=utcnow())
            for transition in ("trigger", "clear"):
                answer = requests.post(
                    f"{server.url}/webhooks/thousandeyes/{route.id}", timeout=10,
                    data=json.dumps(named_alert(transition, rule, test, agent)),
                    headers={"Authorization": f"Bearer {token}"})
                assert answer.json()["status"] == "accepted"
            names += [rule, test, agent]
        odd = {"eventType": "Secret project Falcon", "eventId": "odd-1"}
        assert requests.post(f"{server.url}/webhooks/thousandeyes/{route.id}", json=odd,
                             headers={"Authorization": f"Bearer {token}"},
                             timeout=10).status_code == 200
        names.append("Falcon")
        yield server, names
    database.dispose()


def test_no_alert_data_on_the_front_page_of_two_workspaces(two_workspaces, browser):
    server, names = two_workspaces
    browser.get(server.url + "/")
    events = text_of(browser, "events")
    assert events.count("ALERT_NOTIFICATION_TRIGGER") == 2
    assert events.count("ALERT_NOTIFICATION_CLEAR") == 2
    assert "another type" in events
    assert "sign in" in text_of(browser, "details")
    shown = browser.find_element(By.TAG_NAME, "body").text
    for name in names:
        assert name not in shown and name not in browser.page_source, name


@pytest.mark.parametrize("path", ["/", "/healthz", "/metrics", "/admin", "/slack/install",
                                  "/oauth/authorize", "/webhooks/thousandeyes", "/nowhere"])
def test_no_page_without_credentials_shows_alert_data(two_workspaces, path):
    server, names = two_workspaces
    page = requests.get(server.url + path, timeout=10)
    for name in names:
        assert name not in page.text, (path, name)
