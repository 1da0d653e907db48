"""``/healthz`` tells the truth about delivery: 503 when jobs are due and nothing claims
them for DELIVERY_STUCK_AFTER, 200 again once a worker delivers; queue depth in the JSON."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import requests

from bot.delivery.runner import DeliveryWorker
from bot.process.app import create_app
from bot.web.services import services
from tests.faults.helpers import alerts_in_slack, post_webhook, trigger
from tests.support.metrics import scrape
from tests.support.servers import LiveServer
from tests.support.waiting import wait_for


def _health(url: str) -> tuple[int, dict]:
    answer = requests.get(url + "/healthz", timeout=30)
    return answer.status_code, answer.json()


def _health_once(url: str, condition: Callable[[int, dict], bool], message: str
                 ) -> tuple[int, dict]:
    """The first health answer that meets ``condition``."""
    def answer() -> tuple[int, dict] | None:
        status, body = _health(url)
        return (status, body) if condition(status, body) else None
    return wait_for(answer, 30, message)


def test_health_turns_503_while_delivery_is_stuck_and_back(slack_config, fake_slack):
    config = slack_config.with_overrides(delivery_stuck_after=timedelta(seconds=1))
    app = create_app(config)
    app_services = services(app)
    worker = DeliveryWorker(config, app_services.database, wake=app_services.jobs_waiting,
                            on_finished=app_services.metrics.job_finished)
    try:
        with LiveServer(app) as server:
            assert _health(server.url)[0] == 200
            # No delivery thread anywhere (DELIVERY_THREADS=0, no worker process).
            for number in range(3):
                assert post_webhook(server.url, trigger(number)).status_code == 200
            status, body = _health_once(server.url, lambda status, _body: status == 503,
                                        "health reports the stuck outbox")
            assert body["status"] == "unavailable"
            assert body["database"] == "ok"  # the part that is down is named, not the db
            assert body["delivery"] == "stuck"
            assert body["queue"]["pending"] == 3 and body["queue"]["due"] == 3
            assert body["queue"]["oldest_due_seconds"] >= 1
            assert body["problem"].startswith("delivery: 3 job(s) due")
            assert scrape(server.url).value("thousandeyes_delivery_stuck") == 1

            worker.start(2)
            wait_for(lambda: len(alerts_in_slack(fake_slack)) == 3, 30, "the backlog posted")
            idle = {"pending": 0, "due": 0, "running": 0, "dead": 0, "oldest_due_seconds": 0.0}
            # The last outcome may still be being recorded when its post is visible.
            status, body = _health_once(server.url, lambda _status, body: body.get("queue") == idle,
                                        "health recovers")
            assert status == 200
            assert body["status"] == "ok" and body["delivery"] == "ok"
            assert scrape(server.url).value("thousandeyes_delivery_stuck") == 0
    finally:
        worker.stop()
        app_services.database.dispose()


def test_a_busy_channel_is_not_stuck(slack_config, fake_slack):
    """A backlog that waits for its channel's pace is due for long, but jobs are being
    claimed and finished all the while: delivery is slow, not stuck."""
    config = slack_config.with_overrides(delivery_stuck_after=timedelta(seconds=1),
                                         slack_post_interval=0.5)
    app = create_app(config)
    app_services = services(app)
    worker = DeliveryWorker(config, app_services.database, wake=app_services.jobs_waiting)
    try:
        with LiveServer(app) as server:
            for number in range(8):
                assert post_webhook(server.url, trigger(number)).status_code == 200
            worker.start(2)
            waits: list[float] = []

            def healthy_until_all_posted() -> bool:
                status, body = _health(server.url)
                assert status == 200, body
                waits.append(body["queue"]["oldest_due_seconds"])
                return len(alerts_in_slack(fake_slack)) == 8

            wait_for(healthy_until_all_posted, 60, "the backlog posted")
            assert max(waits) > 1  # checked while a job had waited past the threshold
    finally:
        worker.stop()
        app_services.database.dispose()


def test_dead_jobs_are_reported_but_do_not_fail_health(slack_config, fake_slack):
    config = slack_config.with_overrides(delivery_stuck_after=timedelta(seconds=1))
    app = create_app(config)
    app_services = services(app)
    worker = DeliveryWorker(config, app_services.database, wake=app_services.jobs_waiting)
    fake_slack.fail("chat.postMessage", error="msg_too_long", times=1)
    try:
        with LiveServer(app) as server:
            worker.start(1)
            assert post_webhook(server.url, trigger(1)).status_code == 200
            status, body = _health_once(server.url, lambda _status, body: body["queue"]["dead"],
                                        "the job dead-lettered")
            assert status == 200 and body["delivery"] == "ok"
    finally:
        worker.stop()
        app_services.database.dispose()
