"""The front page says what to do next for the state it sees, each step linking to its
README section; a local address is flagged as one ThousandEyes cannot reach."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests

from bot.process.app import create_app
from bot.web.front_page import README_URL, unreachable_from_thousandeyes
from bot.web.services import services
from tests.support.delivery import send
from tests.support.payloads import load_sample
from tests.support.servers import LiveServer

REPO = Path(__file__).resolve().parents[2]
README_ANCHORS = {
    re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
    for heading in re.findall(r"^#+ (.+)$", (REPO / "README.md").read_text(), re.M)}


class _ById(HTMLParser):
    """The text and links inside the element with a given id."""

    def __init__(self, element_id: str) -> None:
        super().__init__()
        self.element_id, self.depth, self.text, self.links = element_id, 0, [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self.depth or attrs.get("id") == self.element_id:
            self.depth += 1
            if tag == "a":
                self.links.append(attrs.get("href", ""))

    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.text.append(data)


def element(page: str, element_id: str) -> tuple[str, list[str]]:
    parser = _ById(element_id)
    parser.feed(page)
    return " ".join("".join(parser.text).split()), parser.links


def next_step(url: str) -> tuple[str, list[str]]:
    return element(requests.get(url + "/", timeout=10).text, "next-step")


def assert_links_to_readme(links: list[str], anchor: str) -> None:
    assert f"{README_URL}#{anchor}" in links
    assert anchor in README_ANCHORS


@pytest.fixture
def serve():
    apps = []

    def start(config):
        app = create_app(config)
        apps.append(app)
        return LiveServer(app)

    yield start
    for app in apps:
        services(app).database.dispose()


def test_without_slack_the_next_step_is_to_connect_it(serve, config):
    with serve(config) as server:
        text, links = next_step(server.url)
        page = requests.get(server.url + "/", timeout=10).text
    assert "connect Slack" in text
    assert_links_to_readme(links, "from-nothing-to-alert-threads")
    # Nothing promises a confirmation in a channel that is not connected.
    assert "the channel shows a confirmation" not in page


def test_with_slack_and_no_events_the_next_step_is_thousandeyes(serve, slack_config):
    with serve(slack_config) as server:
        text, links = next_step(server.url)
    assert "point ThousandEyes" in text
    assert_links_to_readme(links, "point-thousandeyes-at-it")


def test_a_local_address_is_flagged_as_unreachable_from_thousandeyes(serve, slack_config):
    with serve(slack_config) as server:
        page = requests.get(server.url + "/", timeout=10).text
        warning, links = element(page, "unreachable")
        public = requests.get(server.url + "/", timeout=10,
                              headers={"Host": "alerts.example.com"}).text
    assert "127.0.0.1" in warning and "ThousandEyes cannot reach" in warning
    assert "PUBLIC_URL" in warning
    assert_links_to_readme(links, "deploy-to-heroku")
    assert element(public, "unreachable") == ("", [])


def test_with_events_the_page_says_when_the_last_arrived_and_of_which_type(serve, slack_config):
    with serve(slack_config.with_overrides(public_url="https://alerts.example.com")) as server:
        send(server, load_sample("trigger"))
        text, links = next_step(server.url)
    assert "ALERT_NOTIFICATION_TRIGGER" in text and "UTC" in text
    assert load_sample("trigger")["alert"]["testName"] not in text  # no alert data
    assert_links_to_readme(links, "in-slack")


@pytest.mark.parametrize(("url", "unreachable"), [
    ("http://127.0.0.1:3000", True), ("http://localhost:3000", True),
    ("http://[::1]:3000", True), ("http://10.1.2.3", True), ("http://192.168.1.20:3000", True),
    ("http://172.20.0.5", True), ("http://laptop.local:3000", True),
    ("https://alerts.example.com", False), ("https://52.1.2.3", False),
])
def test_which_addresses_thousandeyes_cannot_reach(url, unreachable):
    assert (unreachable_from_thousandeyes(url) is not None) is unreachable


def test_the_readme_link_is_the_repository_of_app_json():
    repository = json.loads((REPO / "app.json").read_text())["repository"]
    assert repository + "#readme" == README_URL or README_URL.startswith(repository)
