"""The consent page in a real headless Chromium, as ThousandEyes' "Get Token" opens it.

The browser loads the authorize URL, the administrator types the password and clicks
Approve (or Deny), and the test reads where the browser lands: the callback with the
token in its fragment (implicit grant) or a code in its query (authorization code), or
``access_denied``. The token is then used on the webhook.

The browser comes from tests/support/browser.py.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from bot.clock import utcnow
from bot.config import Config
from bot.process.app import create_app
from bot.web.oauth_server import clients
from bot.web.services import services
from tests.support.browser import skip_without_chromium
from tests.support.payloads import load_sample
from tests.support.servers import LiveServer

ADMIN_PASSWORD = "correct horse battery staple"

skip_without_chromium()
pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402 (only once selenium is there)
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402 (only once selenium is there)


def _callback_page(environ, start_response):
    """Where ThousandEyes' callback page would be: any page that loads is enough."""
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [b"<!doctype html><title>callback</title><p>ThousandEyes callback</p>"]


@pytest.fixture
def service(database_url):
    """The app and a callback page, both on loopback; the callback is the one allowed."""
    with LiveServer(_callback_page) as callback:
        callback_url = callback.url + "/webhooks-oauth-callback/"
        app = create_app(Config(database_url=database_url, oauth_admin_password=ADMIN_PASSWORD,
                                oauth_redirect_uris=(callback_url,), delivery_threads=0))
        with LiveServer(app) as server:
            yield server, services(app).database, callback_url
        services(app).database.dispose()


def landed_on(driver, callback_url):
    WebDriverWait(driver, 15).until(lambda d: d.current_url.startswith(callback_url))
    return urlsplit(driver.current_url)


def approve(driver, password=ADMIN_PASSWORD, button="approve"):
    field = WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "admin_password"))
    field.clear()
    field.send_keys(password)
    driver.find_element(By.ID, button).click()


def webhook_status(server, token):
    return requests.post(server.url + "/webhooks/thousandeyes", timeout=10,
                         data=json.dumps(load_sample("test")),
                         headers={"Authorization": f"Bearer {token}"}).status_code


def test_implicit_grant_approved_in_the_browser(browser, service):
    server, database, callback_url = service
    client_id, _ = clients.add_client(database, "TE classic", (callback_url,),
                                      confidential=False, now=utcnow())
    browser.get(server.url + "/oauth/authorize?" + urlencode({
        "response_type": "token", "client_id": client_id, "redirect_uri": callback_url,
        "state": "te-state-1"}))
    assert "Authorize TE classic" in browser.page_source
    approve(browser, password="not the password")
    error = WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "error"))
    assert "Wrong password" in error.text
    approve(browser)  # the page shown again still works
    fragment = parse_qs(landed_on(browser, callback_url).fragment)
    assert fragment["state"] == ["te-state-1"] and fragment["token_type"] == ["Bearer"]
    token = fragment["access_token"][0]
    assert webhook_status(server, token) == 200
    assert webhook_status(server, token + "x") == 401


def test_authorization_code_approved_in_the_browser(browser, service):
    server, database, callback_url = service
    client_id, secret = clients.add_client(database, "TE custom", (callback_url,),
                                           confidential=True, now=utcnow())
    browser.get(server.url + "/oauth/authorize?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": callback_url}))
    approve(browser)
    query = parse_qs(landed_on(browser, callback_url).query)
    issued = requests.post(server.url + "/oauth/token", auth=(client_id, secret), timeout=10,
                           data={"grant_type": "authorization_code", "code": query["code"][0],
                                 "redirect_uri": callback_url})
    assert issued.status_code == 200, issued.text
    assert webhook_status(server, issued.json()["access_token"]) == 200


@pytest.mark.parametrize("response_type", ["token", "code"])
def test_deny_in_the_browser_sends_access_denied(browser, service, response_type):
    server, database, callback_url = service
    client_id, _ = clients.add_client(database, "TE", (callback_url,),
                                      confidential=response_type == "code", now=utcnow())
    browser.get(server.url + "/oauth/authorize?" + urlencode({
        "response_type": response_type, "client_id": client_id, "redirect_uri": callback_url,
        "state": "te-state-2"}))
    approve(browser, password="", button="deny")
    landed = landed_on(browser, callback_url)
    answer = parse_qs(landed.fragment or landed.query)
    assert answer["error"] == ["access_denied"] and "access_token" not in answer
    assert "code" not in answer
