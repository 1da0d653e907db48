"""WEBHOOK_ALLOWED_SOURCES with and without trusted proxies, and spoofed X-Forwarded-For."""

from __future__ import annotations

import json
import logging
from ipaddress import ip_network

import pytest
import requests

from bot.config import Config
from bot.process.app import create_app
from bot.web.services import services
from tests.conftest import WEBHOOK_TOKEN
from tests.support.payloads import load_sample
from tests.support.servers import LiveServer

THOUSANDEYES = ip_network("192.150.160.0/24")


@pytest.fixture
def serve(database_url):
    apps = []

    def start(**settings):
        app = create_app(Config(database_url=database_url, webhook_token=WEBHOOK_TOKEN,
                                delivery_threads=0, **settings))
        apps.append(app)
        return LiveServer(app)

    yield start
    for app in apps:
        services(app).database.dispose()


def post(server, forwarded_for=None):
    headers = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    return requests.post(server.url + "/webhooks/thousandeyes", headers=headers, timeout=10,
                         data=json.dumps(load_sample("test")))


def test_no_allowlist_accepts_any_source(serve):
    with serve() as server:
        assert post(server).status_code == 200


def test_allowed_network_is_accepted_and_others_refused(serve):
    with serve(webhook_allowed_sources=(ip_network("127.0.0.0/8"),)) as server:
        assert post(server).status_code == 200
    with serve(webhook_allowed_sources=(THOUSANDEYES,)) as server:
        refused = post(server)
        assert refused.status_code == 403 and "source address" in refused.json()["message"]


def test_spoofed_forwarded_for_without_trusted_proxy_is_ignored(serve):
    with serve(webhook_allowed_sources=(THOUSANDEYES,)) as server:
        assert post(server, forwarded_for="192.150.160.10").status_code == 403


def test_one_trusted_hop_uses_the_address_the_proxy_saw(serve):
    # Loopback plays Heroku's router: it appends the address it received the call from.
    with serve(webhook_allowed_sources=(THOUSANDEYES,), trusted_proxy_hops=1) as server:
        assert post(server, forwarded_for="192.150.160.10").status_code == 200
        # A client that puts a ThousandEyes address first gains nothing: the router
        # appended the real one (10.1.1.1), and only that one is trusted.
        assert post(server, forwarded_for="192.150.160.10, 10.1.1.1").status_code == 403
        # Health and Slack routes are not subject to the webhook allowlist.
        assert requests.get(server.url + "/healthz", timeout=10).status_code == 200


def test_named_range_and_bad_values_in_the_environment():
    config = Config.from_mapping({"WEBHOOK_ALLOWED_SOURCES": "thousandeyes, 10.0.0.0/8",
                                  "TRUSTED_PROXY_HOPS": "1"})
    assert config.webhook_allowed_sources == (THOUSANDEYES, ip_network("10.0.0.0/8"))
    from bot.config import ConfigError

    with pytest.raises(ConfigError, match="WEBHOOK_ALLOWED_SOURCES: 'not-a-net'"):
        Config.from_mapping({"WEBHOOK_ALLOWED_SOURCES": "not-a-net"})


def test_fewer_forwarded_entries_than_hops_are_judged_by_the_socket_and_said_once(serve, caplog):
    """TRUSTED_PROXY_HOPS=2 with one proxy, or none, in front: a request cannot carry an
    entry from each trusted proxy, so what it carries is the client's own word."""
    with (serve(webhook_allowed_sources=(THOUSANDEYES,), trusted_proxy_hops=2) as server,
          caplog.at_level(logging.WARNING, logger="bot.web.proxies")):
        assert post(server, forwarded_for="192.150.160.10").status_code == 403
        assert post(server).status_code == 403
        assert post(server, forwarded_for="192.150.160.10, 10.1.1.1").status_code == 200
    mismatches = [r.getMessage() for r in caplog.records if r.name == "bot.web.proxies"]
    assert len(mismatches) == 1, mismatches
    assert "TRUSTED_PROXY_HOPS=2" in mismatches[0] and "1 X-Forwarded-For" in mismatches[0]
    assert "127.0.0.1" in mismatches[0]  # the address the request was judged by
