from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import Config
from bot.db.database import Database
from bot.delivery.runner import DeliveryWorker
from bot.process.app import create_app
from bot.web.services import services
from tests.support.browser import browser  # noqa: F401 (a fixture: headless Chromium)
from tests.support.databases import fresh_database_url
from tests.support.fake_slack import FakeSlack
from tests.support.fake_thousandeyes import fake_thousandeyes  # noqa: F401 (a fixture)
from tests.support.servers import LiveServer

WEBHOOK_TOKEN = "test-webhook-token-0123456789"


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    with fresh_database_url(tmp_path) as url:
        yield url


@pytest.fixture
def config(database_url: str) -> Config:
    # FLAP_WINDOW and storm roll-ups off: the suite sends the samples' one rule and test
    # again and again as new alerts, and many triggers to one channel; the tests of those
    # features turn them on (tests/delivery/test_flapping.py, tests/delivery/test_storms.py).
    return Config(database_url=database_url, webhook_token=WEBHOOK_TOKEN, delivery_threads=0,
                  flap_window=None, storm_rollup=False)


@pytest.fixture
def app(config: Config) -> Iterator:
    flask_app = create_app(config)
    yield flask_app
    services(flask_app).database.dispose()


@pytest.fixture
def database(app) -> Database:
    return services(app).database


@pytest.fixture
def live_server(app) -> Iterator[LiveServer]:
    with LiveServer(app) as server:
        yield server


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    slack = FakeSlack().start()
    slack.add_channel("C0ALERTS", "alerts")
    slack.add_channel("C0OTHER", "other")
    yield slack
    slack.stop()


@pytest.fixture
def slack_config(database_url: str, fake_slack: FakeSlack) -> Config:
    return Config(
        database_url=database_url,
        webhook_token=WEBHOOK_TOKEN,
        slack_bot_token="xoxb-test-token",
        slack_signing_secret="test-signing-secret",
        slack_api_url=fake_slack.url,
        slack_channel="C0ALERTS",
        slack_post_interval=0.0,
        slack_timeout=2.0,
        delivery_threads=0,
        flap_window=None, storm_rollup=False,  # as in ``config``
    )


@pytest.fixture
def slack_app(slack_config: Config) -> Iterator:
    flask_app = create_app(slack_config)
    yield flask_app
    services(flask_app).database.dispose()


@pytest.fixture
def slack_server(slack_app) -> Iterator[LiveServer]:
    with LiveServer(slack_app) as server:
        yield server


@pytest.fixture
def worker(slack_app) -> Iterator[DeliveryWorker]:
    app_services = services(slack_app)
    delivery = DeliveryWorker(
        app_services.config, app_services.database, wake=app_services.jobs_waiting,
        backoff=lambda attempts: 0.05,
    )
    yield delivery
    delivery.stop()
