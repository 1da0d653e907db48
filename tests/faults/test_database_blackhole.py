"""A PostgreSQL that stops answering (its packets dropped) gives 503 within seconds.

The app reaches the database through a loopback proxy (``tests/support/blackhole.py``)
that stops forwarding while still accepting and acknowledging, as a network that drops
packets past a proxy does. Before the connect and statement deadlines, webhooks and
``/healthz`` hung about 130 s.
"""

from __future__ import annotations

import time

import pytest
import requests
from sqlalchemy.engine import make_url

from bot.config import Config
from bot.process.app import create_app
from bot.web.services import services
from tests.conftest import WEBHOOK_TOKEN
from tests.faults.helpers import post_webhook, trigger
from tests.support.blackhole import BlackholeProxy
from tests.support.databases import postgres_base_url
from tests.support.servers import LiveServer
from tests.support.waiting import wait_for

pytestmark = pytest.mark.skipif(postgres_base_url() is None,
                                reason="PostgreSQL only (TEST_DATABASE_URL): SQLite is a local file")

# The promise is "about 5 s"; the bound leaves room for a loaded CI machine.
BOUND = 9.0


@pytest.fixture
def proxied(database_url):
    url = make_url(database_url)
    proxy = BlackholeProxy(url.host or "127.0.0.1", url.port or 5432)
    app = create_app(Config(
        database_url=url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
        webhook_token=WEBHOOK_TOKEN, delivery_threads=0))
    with LiveServer(app) as server:
        yield server, proxy
    proxy.close()
    services(app).database.dispose()


def timed(call):
    started = time.monotonic()
    answer = call()
    return answer, time.monotonic() - started


def test_dropped_packets_give_503_within_seconds_then_recover(proxied):
    server, proxy = proxied
    assert post_webhook(server.url, trigger(1, "bh")).status_code == 200
    assert requests.get(server.url + "/healthz", timeout=10).status_code == 200

    proxy.drop()
    answer, elapsed = timed(lambda: post_webhook(server.url, trigger(2, "bh"), timeout=60))
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] and answer.json()["message"]
    assert elapsed < BOUND, f"webhook answered after {elapsed:.1f}s"

    health, elapsed = timed(lambda: requests.get(server.url + "/healthz", timeout=60))
    assert health.status_code == 503
    assert health.json()["database"] == "unreachable"
    assert elapsed < BOUND, f"/healthz answered after {elapsed:.1f}s"

    # Several at once: none waits behind another's stuck connection for long.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda n: timed(
            lambda: post_webhook(server.url, trigger(10 + n, "bh"), timeout=60)), range(6)))
    assert all(r.status_code == 503 for r, _ in results)
    assert max(e for _, e in results) < 2 * BOUND

    proxy.restore()
    wait_for(lambda: post_webhook(server.url, trigger(3, "bh")).status_code == 200, 30,
             "webhooks accepted again once the database answers")
    assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
