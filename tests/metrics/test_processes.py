"""``/metrics`` adds up every process: two gunicorn workers of one ``serve``, and a
``python -m bot worker`` delivering beside a ``serve`` on the same database and host."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.conftest import WEBHOOK_TOKEN
from tests.faults.helpers import (
    Serve,
    alerts_in_slack,
    outbox_idle,
    post_webhook,
    trigger,
)
from tests.support.metrics import scrape
from tests.support.processes import BotProcess, bot_env, children_of, free_port
from tests.support.waiting import wait_for

BATCH = 10


def _counter_writers(temp) -> list[str]:
    """The processes that wrote counters into the serve's one metrics directory."""
    directories = list(temp.glob("thousandeyes-bot-metrics-*"))
    assert len(directories) <= 1, directories
    return sorted({path.stem.rsplit("_", 1)[-1]
                   for directory in directories for path in directory.glob("counter_*.db")})


def _slack_env(database_url: str, fake_slack) -> dict[str, str]:
    return dict(DATABASE_URL=database_url, SLACK_BOT_TOKEN="xoxb-metrics",
                SLACK_API_URL=fake_slack.url, SLACK_CHANNEL="C0ALERTS",
                SLACK_POST_INTERVAL="0", SLACK_TIMEOUT="5", WEBHOOK_TOKEN=WEBHOOK_TOKEN)


def test_every_scrape_of_two_web_workers_counts_both(tmp_path, database_url, fake_slack):
    temp = tmp_path / "temp"
    temp.mkdir()
    serve = Serve(tmp_path, free_port(), "serve", WEB_CONCURRENCY="2", DELIVERY_THREADS="2",
                  TMPDIR=str(temp), **_slack_env(database_url, fake_slack))
    try:
        serve.wait_healthy(60)
        wait_for(lambda: len(children_of(serve.bot.process.pid)) == 2, 60, "two workers")
        # Which worker accepts a connection is the kernel's choice: keep sending batches of
        # concurrent webhooks until both workers have counted some (a busy worker is the
        # less likely to win the next accept).
        sent = 0
        deadline = time.monotonic() + 60
        while True:
            batch = range(sent, sent + BATCH)
            with ThreadPoolExecutor(BATCH) as pool:
                answers = list(pool.map(lambda n: post_webhook(serve.url, trigger(n)), batch))
            assert [answer.status_code for answer in answers] == [200] * BATCH
            sent += BATCH
            if len(_counter_writers(temp)) >= 2 or time.monotonic() > deadline:
                break
        wait_for(lambda: len(alerts_in_slack(fake_slack)) == sent, 60, "every parent posted")
        wait_for(lambda: outbox_idle(database_url), 60, "outbox idle")
        # Counted just after the outcome is committed.
        wait_for(lambda: scrape(serve.url).value("thousandeyes_deliveries_total",
                                                 outcome="delivered") == sent, 30, "counted")

        # The serve made one directory for the run; each worker process writes its own
        # files there (the webhooks and deliveries were shared between them).
        writers = _counter_writers(temp)
        assert len(writers) >= 2, writers
        for _ in range(8):  # whichever worker answers the scrape
            metrics = scrape(serve.url)
            assert metrics.value("thousandeyes_webhooks_total", route="default",
                                 status="200") == sent
            assert metrics.value("thousandeyes_events_total", result="accepted") == sent
            assert metrics.value("thousandeyes_deliveries_total", kind="alert_trigger",
                                 outcome="delivered") == sent
            assert metrics.value("thousandeyes_accepted_to_posted_seconds_count") == sent
            assert metrics.value("thousandeyes_jobs", status="pending") == 0
    finally:
        serve.stop()
    assert "Traceback" not in serve.log()
    assert not list(temp.glob("thousandeyes-bot-metrics-*"))  # removed with the run


def test_a_separate_worker_process_counts_into_the_serves_metrics(
        tmp_path, database_url, fake_slack):
    shared = tmp_path / "metrics"
    shared.mkdir()
    env = dict(_slack_env(database_url, fake_slack), PROMETHEUS_MULTIPROC_DIR=str(shared))
    serve = Serve(tmp_path, free_port(), "serve", DELIVERY_THREADS="0", **env)
    worker = BotProcess("worker", env=bot_env(DELIVERY_THREADS="2", **env),
                        log_path=tmp_path / "worker.log", cwd=tmp_path)
    try:
        serve.wait_healthy(60)
        fake_slack.fail("chat.postMessage", status=429, retry_after=1, times=1)
        assert post_webhook(serve.url, trigger(1)).status_code == 200
        wait_for(lambda: alerts_in_slack(fake_slack).get(1), 60, "the first parent posted")
        fake_slack.fail("chat.postMessage", error="channel_is_archived", times=1)
        assert post_webhook(serve.url, trigger(2)).status_code == 200
        wait_for(lambda: scrape(serve.url).value("thousandeyes_jobs", status="dead") == 1, 60,
                 "the second trigger dead-lettered")
        wait_for(lambda: scrape(serve.url).value("thousandeyes_deliveries_total",
                                                 outcome="dead") == 1, 30, "dead counted")
        wait_for(lambda: scrape(serve.url).value("thousandeyes_deliveries_total",
                                                 outcome="delivered") == 1, 30, "delivered counted")

        metrics = scrape(serve.url)
        # Counted by the worker process, reported by the serving one.
        assert metrics.value("thousandeyes_deliveries_total", kind="alert_trigger",
                             outcome="delivered") == 1
        assert metrics.value("thousandeyes_slack_rate_limited_total") == 1
        assert metrics.value("thousandeyes_deliveries_total", outcome="dead",
                             error="channel_is_archived") == 1
        assert metrics.value("thousandeyes_accepted_to_posted_seconds_count") == 1
        # Counted by the serving process.
        assert metrics.value("thousandeyes_webhooks_total", status="200") == 2
    finally:
        worker.stop()
        serve.stop()
    for log in (serve.log(), worker.log_path.read_text()):
        assert "Traceback" not in log


def test_a_worker_on_a_host_of_its_own_serves_its_metrics(tmp_path, database_url, fake_slack):
    """No shared directory (another host): the worker's METRICS_PORT has its counters."""
    env = _slack_env(database_url, fake_slack)
    port = free_port()
    token = "worker-metrics-token-0123"
    serve = Serve(tmp_path, free_port(), "serve", DELIVERY_THREADS="0", **env)
    worker = BotProcess("worker", env=bot_env(DELIVERY_THREADS="2", METRICS_PORT=str(port),
                                              METRICS_TOKEN=token, **env),
                        log_path=tmp_path / "worker.log", cwd=tmp_path)
    worker_url = f"http://127.0.0.1:{port}"
    try:
        serve.wait_healthy(60)
        assert post_webhook(serve.url, trigger(1)).status_code == 200
        wait_for(lambda: alerts_in_slack(fake_slack).get(1), 60, "the parent posted")
        wait_for(lambda: "metrics of this worker" in worker.log(), 60, "worker metrics up")
        wait_for(lambda: scrape(worker_url, token).value(
            "thousandeyes_deliveries_total", outcome="delivered") == 1, 30, "counted")
        metrics = scrape(worker_url, token)
        assert metrics.value("thousandeyes_accepted_to_posted_seconds_count") == 1
        assert metrics.value("thousandeyes_database_up") == 1
        assert metrics.value("thousandeyes_jobs", status="pending") == 0
        assert requests.get(worker_url + "/metrics", timeout=10).status_code == 401
        assert requests.get(worker_url + "/healthz", timeout=10).status_code == 404
        # The serving process saw the webhook, not the delivery.
        served = scrape(serve.url)
        assert served.value("thousandeyes_webhooks_total", status="200") == 1
        assert served.value("thousandeyes_deliveries_total") == 0
    finally:
        worker.stop()
        serve.stop()
    assert "Traceback" not in worker.log_path.read_text()
