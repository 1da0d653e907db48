"""``GET /`` in a real headless Chromium: what the service is, what is connected, the
webhook URLs to paste into ThousandEyes, the last events, and no secret anywhere."""

from __future__ import annotations

import pytest
import requests

from bot.app import create_app
from bot.services import services
from tests.conftest import WEBHOOK_TOKEN
from tests.support.browser import skip_without_chromium
from tests.support.delivery import send
from tests.support.payloads import load_sample
from tests.support.servers import LiveServer

skip_without_chromium()
pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By

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
    hostile = load_sample("trigger")
    hostile["alert"]["testName"] = "<script>document.title='owned'</script><b>shop</b>"
    send(served, hostile)
    browser.get(served.url + "/")
    assert browser.title == "ThousandEyes alerts in Slack"
    assert "ThousandEyes alert webhooks into Slack threads" in browser.page_source
    assert text_of(browser, "database").startswith("SQLite: connected") or \
        text_of(browser, "database").startswith("PostgreSQL: connected")
    assert "bot token" in text_of(browser, "slack") and "C0ALERTS" in text_of(browser, "slack")
    webhook = served.url + "/webhooks/thousandeyes"
    assert text_of(browser, "webhook-url") == webhook
    assert text_of(browser, "webhook-url-channel") == webhook + "?channel=alerts-network"
    assert "WEBHOOK_TOKEN" in text_of(browser, "auth")
    events = text_of(browser, "events")
    assert "ALERT_NOTIFICATION_TRIGGER" in events
    assert "<script>document.title='owned'</script><b>shop</b>" in events  # shown, not run
    assert browser.title == "ThousandEyes alerts in Slack"
    assert not browser.find_elements(By.CSS_SELECTOR, "#events b")


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
