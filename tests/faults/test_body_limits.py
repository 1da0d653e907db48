"""Every route has a body limit, checked before the body is read, chunked bodies too:
413 with a JSON message. ThousandEyes' webhooks get ``WEBHOOK_MAX_BODY_BYTES``; Slack's
and OAuth's requests are small, and so are theirs.

Run against the app on loopback (Werkzeug's server, which de-chunks); test_slow_clients
runs the same through ``python -m bot serve``.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from bot.config import Config
from bot.db.models import EventRow
from bot.process.app import create_app
from bot.web.body_limits import OTHER_MAX_BODY_BYTES, SLACK_MAX_BODY_BYTES
from bot.web.services import services
from tests.conftest import WEBHOOK_TOKEN
from tests.support.payloads import load_sample
from tests.support.raw_http import chunked, send
from tests.support.servers import LiveServer

LIMIT = 4096
AUTH = {"Authorization": f"Bearer {WEBHOOK_TOKEN}", "Content-Type": "application/json"}


@pytest.fixture
def server(database_url):
    app = create_app(Config(database_url=database_url, webhook_token=WEBHOOK_TOKEN,
                            webhook_max_body_bytes=LIMIT, delivery_threads=0,
                            oauth_admin_password="correct horse battery staple",
                            slack_bot_token="xoxb-x", slack_signing_secret="secret"))
    with LiveServer(app) as live:
        yield live, services(app).database
    services(app).database.dispose()


def valid_event_of_exactly(size: int) -> bytes:
    """A valid event padded with JSON whitespace to ``size`` bytes."""
    body = json.dumps(load_sample("test")).encode()
    return body + b" " * (size - len(body))


def stored_events(database) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(EventRow))


def assert_413(answer):
    assert answer.status == 413, (answer.status, answer.body[:200])
    assert answer.headers["content-type"].startswith("application/json")
    assert "larger than" in json.loads(answer.body)["message"]


def test_chunked_webhook_over_the_limit_is_413_not_cut_and_parsed(server):
    live, database = server
    # The first LIMIT bytes are a valid event: cut there, it would parse and be stored.
    body = valid_event_of_exactly(LIMIT) + b" " * 10
    answer = send(live.port, "POST", "/webhooks/thousandeyes",
                  dict(AUTH, **{"Transfer-Encoding": "chunked"}), chunked([body]))
    assert_413(answer)
    assert stored_events(database) == 0


def test_chunked_webhook_at_the_limit_is_accepted(server):
    live, database = server
    answer = send(live.port, "POST", "/webhooks/thousandeyes",
                  dict(AUTH, **{"Transfer-Encoding": "chunked"}),
                  chunked([valid_event_of_exactly(LIMIT)[:1000], valid_event_of_exactly(LIMIT)[1000:]]))
    assert answer.status == 200, answer.body
    assert stored_events(database) == 1


@pytest.mark.parametrize("path,limit", [
    ("/slack/events", SLACK_MAX_BODY_BYTES),
    ("/oauth/token", OTHER_MAX_BODY_BYTES),
    ("/oauth/authorize", OTHER_MAX_BODY_BYTES),
    ("/webhooks/thousandeyes", LIMIT),
    ("/webhooks/thousandeyes/some-route", LIMIT),
    ("/healthz", OTHER_MAX_BODY_BYTES),
    ("/nowhere", OTHER_MAX_BODY_BYTES),
])
def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(server, path, limit):
    live, _ = server
    # 100 MB announced, a few bytes sent: the answer must come without the rest.
    headers = {"Content-Length": str(100 * 1024 * 1024),
               "Content-Type": "application/x-www-form-urlencoded"}
    answer = send(live.port, "POST", path, headers, [b"payload=x"], timeout=5)
    assert_413(answer)
    assert str(limit) in json.loads(answer.body)["message"]


@pytest.mark.parametrize("path", ["/slack/events", "/oauth/token", "/oauth/authorize"])
def test_an_endless_chunked_body_is_refused_at_the_limit(server, path):
    live, _ = server
    piece = b"a" * 65536
    endless = chunked(piece for _ in range(100 * 16))  # 100 MiB if nobody stops it
    answer = send(live.port, "POST", path, {"Transfer-Encoding": "chunked",
                                             "Content-Type": "application/x-www-form-urlencoded"},
                  endless, timeout=10)
    assert_413(answer)
    assert answer.sent < 20 * 1024 * 1024  # answered long before the end


def test_small_requests_still_pass(server):
    live, _ = server
    body = json.dumps(load_sample("test")).encode()
    answer = send(live.port, "POST", "/webhooks/thousandeyes",
                  dict(AUTH, **{"Content-Length": str(len(body))}), [body])
    assert answer.status == 200
