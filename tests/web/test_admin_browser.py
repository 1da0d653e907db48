"""Signing in to ``/admin`` in a real headless Chromium, as a person does it: open the
page, type the password, press Sign in, read the events, sign out."""

from __future__ import annotations

import pytest

from tests.support.browser import skip_without_chromium
from tests.web.test_admin_page import ADMIN_PASSWORD, served  # noqa: F401 (a fixture)

skip_without_chromium()
pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402 (only once selenium is there)
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402 (only once selenium is there)


def test_signing_in_with_a_browser(served, browser):  # noqa: F811 (the fixture)
    server, _database = served
    browser.get(server.url + "/admin")
    browser.find_element(By.ID, "admin_password").send_keys(ADMIN_PASSWORD)
    browser.find_element(By.ID, "sign-in").click()
    table = WebDriverWait(browser, 15).until(lambda b: b.find_element(By.ID, "event-details"))
    assert "Payments <b>latency</b> rule" in table.text  # shown as text, never as markup
    assert not browser.find_elements(By.CSS_SELECTOR, "#event-details b")
    assert "Packet1" in table.text
    browser.find_element(By.ID, "sign-out").click()
    WebDriverWait(browser, 15).until(lambda b: b.find_element(By.ID, "admin_password"))
    assert "Packet1" not in browser.page_source
