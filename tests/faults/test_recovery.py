"""Slack limits, fails and recovers: the retry schedule, the circuit, restarts.

- a 429 waits its Retry-After, is not a failed attempt, and is followed by no history
  read (a 429 means nothing was posted);
- after an outage every pending alert is posted soon after Slack answers again, however
  long the jobs' backoff had grown (the first success releases them);
- the same after a restart with the jobs in backoff;
- jobs failing past DELIVERY_MAX_AGE are dead-lettered with the reason.

Timings are asserted generously (bench/outage.py measures them).
"""

from __future__ import annotations

import random
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.clock import utcnow
from bot.db.models import JobRow, JobStatus, WaitingFor
from bot.delivery.outcome import MAX_BACKOFF_SECONDS, backoff_seconds
from bot.delivery.runner import DeliveryWorker
from bot.outbox import queue
from bot.web.services import services
from tests.faults.helpers import outbox_idle, post_webhook, trigger
from tests.support.delivery import drain, send
from tests.support.waiting import wait_for

ALERTS = 8
CHANNELS = ("C0ALERTS", "C0OTHER")
# Without the circuit, jobs would sit out this backoff after Slack recovers.
LONG_BACKOFF = lambda attempts: MAX_BACKOFF_SECONDS  # noqa: E731


def delivery(app, **options) -> DeliveryWorker:
    app_services = services(app)
    return DeliveryWorker(app_services.config, app_services.database,
                          wake=app_services.jobs_waiting, **options)


def test_backoff_has_a_real_ceiling_of_a_minute():
    rng = random.Random(7)
    delays = [backoff_seconds(failures, rng) for failures in range(1, 40) for _ in range(20)]
    assert max(delays) <= MAX_BACKOFF_SECONDS
    assert backoff_seconds(1, rng) <= 2.0


def test_429s_are_not_failed_attempts_and_need_no_history_read(slack_server, worker, fake_slack):
    fake_slack.fail("chat.postMessage", status=429, retry_after=1, times=3)
    started = time.monotonic()
    send(slack_server, trigger(1))
    drain(worker, timeout=30)
    assert len(fake_slack.top_level()) == 1
    posts = fake_slack.calls_to("chat.postMessage")
    assert [c.status for c in posts] == [429, 429, 429, 200]
    assert all(later.at - earlier.at >= 0.95 for earlier, later in zip(posts, posts[1:], strict=False))
    assert time.monotonic() - started < 15  # Retry-After, not a growing backoff
    assert fake_slack.calls_to("conversations.history") == []
    with worker.database.session() as session:
        assert session.scalars(select(JobRow.attempts)).one() == 1


def test_a_5xx_is_uncertain_and_looked_for_once(slack_server, worker, fake_slack):
    fake_slack.fail("chat.postMessage", status=429, retry_after=1, times=2)
    fake_slack.fail("chat.postMessage", status=500, times=1)
    send(slack_server, trigger(1))
    drain(worker, timeout=30)
    assert len(fake_slack.top_level()) == 1
    assert len(fake_slack.calls_to("conversations.history")) == 1  # after the 500 only


@pytest.mark.parametrize("mode", ["503", "refuse"])
def test_after_an_outage_every_alert_is_posted_soon_after_recovery(slack_app, slack_server,
                                                                   fake_slack, database_url, mode):
    worker = delivery(slack_app, backoff=LONG_BACKOFF)
    worker.start(3)
    try:
        fake_slack.go_down(mode)
        for number in range(ALERTS):
            assert post_webhook(slack_server.url, trigger(number),
                                channel=CHANNELS[number % 2]).status_code == 200
        wait_for(lambda: in_backoff(worker) == ALERTS, 30, "every job failed and backs off")
        fake_slack.come_back()
        wait_for(lambda: len(fake_slack.top_level()) == ALERTS, 20,
                 "every alert posted after recovery")
        assert time.monotonic() - fake_slack.recovered_at < 20
        wait_for(lambda: outbox_idle(database_url), 10, "outbox idle")
    finally:
        worker.stop()
    assert len(fake_slack.calls_to("chat.postMessage", ok_only=True)) == ALERTS
    if mode == "refuse":  # a refused connection never carried the post: nothing to look for
        assert fake_slack.calls_to("conversations.history") == []


def in_backoff(worker) -> int:
    with worker.database.session() as session:
        return len(session.scalars(select(JobRow.id).where(
            JobRow.status == JobStatus.PENDING, JobRow.waiting_for == WaitingFor.BACKOFF)).all())


def test_restart_with_jobs_in_backoff_delivers_them_soon_after_recovery(slack_app, slack_server,
                                                                        fake_slack, database_url):
    first = delivery(slack_app, backoff=LONG_BACKOFF)
    first.start(2)
    fake_slack.go_down("503")
    for number in range(ALERTS):
        post_webhook(slack_server.url, trigger(number), channel=CHANNELS[number % 2])
    wait_for(lambda: in_backoff(first) == ALERTS, 30, "every job failed and backs off")
    first.stop()  # the process stops; its jobs wait out a minute's backoff in the database

    fake_slack.come_back()
    second = delivery(slack_app, backoff=LONG_BACKOFF)
    second.start(2)
    try:
        wait_for(lambda: len(fake_slack.top_level()) == ALERTS, 20, "delivered after restart")
        assert time.monotonic() - fake_slack.recovered_at < 20
    finally:
        second.stop()


def test_a_job_failing_past_the_maximum_age_is_dead_lettered_with_the_reason(
    slack_server, worker, fake_slack
):
    fake_slack.fail("chat.postMessage", status=503, times=10**6)
    send(slack_server, trigger(1))
    with worker.database.session() as session:
        session.execute(update(JobRow).values(created_at=utcnow() - timedelta(hours=25)))
    drain(worker)
    [dead] = queue.list_jobs(worker.database, dead_only=True)
    assert "DELIVERY_MAX_AGE" in dead.last_error and "http_503" in dead.last_error
