"""Wrong webhook credentials slow down the address that sends them; right ones never wait.

1,000 wrong tokens from one address were 1,000 answers of 401 at about 350 a second.
Now each address gets a few wrong guesses free, then ``429`` with ``Retry-After`` and a
growing wait, counted in the database so every process sees it. A request with valid
credentials is checked first and always served, whatever others did from its address:
ThousandEyes posts every customer's webhooks from one range.

The service runs behind one trusted proxy here, so a test can speak from any address
(X-Forwarded-For); every request reaches it over real HTTP.
"""

from __future__ import annotations

import base64
import json

import pytest
import requests
from sqlalchemy import func, select

from bot.clock import utcnow
from bot.config import Config
from bot.db.models import EventRow
from bot.process.app import create_app
from bot.store import lockout
from bot.store.lockout import Guarded
from bot.store.routes import RouteOptions, create_route
from bot.web.services import services
from tests.conftest import WEBHOOK_TOKEN
from tests.support.payloads import load_sample
from tests.support.servers import LiveServer

ATTACKER = "203.0.113.5"
NEIGHBOUR = "198.51.100.7"
BASIC = ("thousandeyes", "basic-password-0123")


def settings(database_url: str) -> Config:
    return Config(database_url=database_url, webhook_token=WEBHOOK_TOKEN,
                  webhook_basic_auth=BASIC, trusted_proxy_hops=1, delivery_threads=0)


@pytest.fixture
def served(database_url):
    app = create_app(settings(database_url))
    with LiveServer(app) as server:
        yield server, services(app).database
    services(app).database.dispose()


def post(server, address: str, authorization: str | None, path: str = "/webhooks/thousandeyes",
         payload: dict | None = None) -> requests.Response:
    headers = {"X-Forwarded-For": address}
    if authorization is not None:
        headers["Authorization"] = authorization
    return requests.post(server.url + path, data=json.dumps(payload or load_sample("test")),
                         headers=headers, timeout=10)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def events_stored(database) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(EventRow))


def guess_until_locked(server, path: str = "/webhooks/thousandeyes") -> list[requests.Response]:
    wrong = [None, "Bearer guess-1", basic("thousandeyes", "guess-2"), "Bearer guess-3"]
    return [post(server, ATTACKER, authorization, path)
            for authorization in wrong[:lockout.FREE_ATTEMPTS + 1]]


def test_wrong_credentials_slow_their_address_down(served):
    server, database = served
    answers = guess_until_locked(server)
    assert [a.status_code for a in answers] == [401] * lockout.FREE_ATTEMPTS + [429]
    assert "Retry-After" in answers[lockout.FREE_ATTEMPTS - 1].headers
    locked = answers[-1]
    assert int(locked.headers["Retry-After"]) >= 1
    assert locked.json()["error"] == "too_many_requests"
    assert "wrong credentials" in locked.json()["message"]
    # Another address is not held up by it.
    assert post(server, NEIGHBOUR, "Bearer a-guess-of-its-own").status_code == 401
    assert events_stored(database) == 0


def test_valid_credentials_are_never_slowed_whatever_came_from_their_address(served):
    server, database = served
    guess_until_locked(server)
    assert post(server, ATTACKER, "Bearer another-guess").status_code == 429
    for number, authorization in enumerate((f"Bearer {WEBHOOK_TOKEN}", basic(*BASIC))):
        test_event = dict(load_sample("test"), eventId=f"valid-{number}")
        answer = post(server, ATTACKER, authorization, payload=test_event)
        assert answer.status_code == 200 and answer.json()["status"] == "accepted"
    assert events_stored(database) == 2
    # ... and they do not unlock the address for the next guess.
    assert post(server, ATTACKER, "Bearer yet-another-guess").status_code == 429


def test_every_process_sees_the_same_lockout(database_url, served):
    server, _database = served
    guess_until_locked(server)
    other_app = create_app(settings(database_url))  # another process's app: its own engine
    try:
        with LiveServer(other_app) as other:
            assert post(other, ATTACKER, "Bearer guess-elsewhere").status_code == 429
            assert post(other, ATTACKER, f"Bearer {WEBHOOK_TOKEN}").status_code == 200
    finally:
        services(other_app).database.dispose()


def test_a_channels_route_is_guarded_the_same_way(served):
    server, database = served
    route, token = create_route(database, team_id=None, channel_id="C0ALERTS",
                                created_by="U0ALICE", options=RouteOptions(), now=utcnow())
    assert len(token) >= 16  # as long as WEBHOOK_TOKEN must be, and random
    path = f"/webhooks/thousandeyes/{route.id}"
    answers = guess_until_locked(server, path)
    assert [a.status_code for a in answers][-1] == 429
    # Guessing route ids counts as much as guessing tokens.
    assert post(server, NEIGHBOUR, "Bearer x", "/webhooks/thousandeyes/0123456789abcdef") \
        .status_code == 404
    assert post(server, ATTACKER, f"Bearer {token}", path).status_code == 200


def test_wrong_credentials_are_still_refused_while_the_count_cannot_be_kept(served):
    """The lockout is a brake, not a gate: without its table a wrong credential is
    still a 401, never a 500."""
    server, database = served
    with database.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE auth_failures")
    assert post(server, ATTACKER, "Bearer guess").status_code == 401
    assert post(server, ATTACKER, f"Bearer {WEBHOOK_TOKEN}").status_code == 200


def test_the_webhook_count_is_its_own(served):
    """Guessing the webhook's token does not lock the administrator's consent page."""
    server, database = served
    guess_until_locked(server)
    now = utcnow()
    key = lockout.client_key(ATTACKER)
    assert lockout.current_lockout(database, Guarded.WEBHOOK, key, now).locked
    assert not lockout.current_lockout(database, Guarded.ADMIN_PASSWORD, key, now).locked


def test_a_forged_address_cannot_lock_out_another(database_url):
    """Two trusted proxies, and a client that sends one X-Forwarded-For entry of its own
    naming the administrator's address: its guesses count against its socket address."""
    app = create_app(settings(database_url).with_overrides(trusted_proxy_hops=2))
    try:
        with LiveServer(app) as server:
            for number in range(lockout.FREE_ATTEMPTS + 1):
                post(server, NEIGHBOUR, f"Bearer forged-{number}")
            through_both_proxies = f"{NEIGHBOUR}, 10.0.0.1"
            assert post(server, through_both_proxies, "Bearer a-typo").status_code == 401
            assert post(server, "127.0.0.1", "Bearer from-the-socket").status_code == 429
    finally:
        services(app).database.dispose()
