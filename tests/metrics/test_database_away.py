"""With the database away, ``/metrics`` still answers (saying the outbox cannot be read)
and counts the webhooks refused with 503; both recover when it is back."""

from __future__ import annotations

import requests

from bot.config import Config
from bot.process.app import create_app
from bot.web.services import services
from tests.conftest import WEBHOOK_TOKEN
from tests.faults.helpers import post_webhook, trigger
from tests.faults.test_database_unavailable import SqliteOutage, outage  # noqa: F401 - fixture
from tests.support.metrics import scrape
from tests.support.servers import LiveServer


def test_metrics_answer_while_the_database_is_away(outage):  # noqa: F811 - the fixture
    app = create_app(Config(database_url=outage.app_url, webhook_token=WEBHOOK_TOKEN,
                            delivery_threads=0))
    if isinstance(outage, SqliteOutage):
        outage.database = services(app).database
    try:
        with LiveServer(app) as server:
            assert post_webhook(server.url, trigger(1)).status_code == 200
            outage.start()
            try:
                assert post_webhook(server.url, trigger(2)).status_code == 503
                metrics = scrape(server.url)
                assert metrics.value("thousandeyes_database_up") == 0
                assert metrics.value("thousandeyes_webhooks_total", status="503") == 1
                assert metrics.value("thousandeyes_jobs") == 0  # not reported, not guessed
                health = requests.get(server.url + "/healthz", timeout=60)
                assert health.status_code == 503
                assert health.json()["delivery"] == "unknown"
            finally:
                outage.stop()
            metrics = scrape(server.url)
            assert metrics.value("thousandeyes_database_up") == 1
            assert metrics.value("thousandeyes_jobs", status="pending") == 1
            assert metrics.value("thousandeyes_webhooks_total", status="200") == 1
            assert requests.get(server.url + "/healthz", timeout=30).status_code == 200
    finally:
        services(app).database.dispose()
