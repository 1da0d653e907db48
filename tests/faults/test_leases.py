"""Leases with heartbeats: a job held by a dead process on another host is taken over
within about the lease (30 s); a live holder keeps its job however slow Slack is.

The other host is simulated by its worker identity (``host:pid:boot``) on the job: this
host cannot tell whether that process runs, so only the lease can free the job.
"""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select, update

from bot.clock import utcnow
from bot.db.models import DeliveryLaneRow, JobRow, JobStatus
from bot.delivery.runner import LEASE_SECONDS, DeliveryWorker
from bot.outbox import queue
from bot.web.services import services
from tests.faults.helpers import trigger
from tests.support.delivery import send
from tests.support.waiting import wait_for

OTHER_HOST = "another-dyno.2:4242:deadbeef"


def test_a_job_held_by_a_dead_process_on_another_host_is_taken_over_in_time(
    slack_app, slack_server, fake_slack
):
    send(slack_server, trigger(1))
    database = services(slack_app).database
    # The other host claimed it and posted into the void, then died; its last heartbeat
    # was 25 s ago, so its 30 s lease has 5 s to run.
    lapses_in = 5.0
    lapses = utcnow() + timedelta(seconds=lapses_in)
    with database.session() as session:
        job = session.scalars(select(JobRow)).one()
        session.execute(update(JobRow).where(JobRow.id == job.id).values(
            status=JobStatus.RUNNING, locked_by=OTHER_HOST, locked_until=lapses, attempts=1,
            progress={"in_flight": f"job-{job.id}", "in_flight_since": time.time() - 26}))
        session.execute(update(DeliveryLaneRow).values(
            held_by=f"{OTHER_HOST}/{job.id}", held_until=lapses))
    started = time.monotonic()
    worker = DeliveryWorker(services(slack_app).config, database,
                            backoff=lambda attempts: 0.05)
    worker.start(2)
    try:
        [parent] = wait_for(lambda: fake_slack.top_level(), LEASE_SECONDS, "taken over and posted")
        waited = time.monotonic() - started
    finally:
        worker.stop()
    assert lapses_in - 0.5 <= waited <= lapses_in + 10, waited  # not before the lease lapsed
    assert len(fake_slack.calls_to("conversations.history")) == 1  # looked for its post first
    assert len(fake_slack.top_level()) == 1


def test_a_live_worker_keeps_its_job_while_slack_is_slow(slack_app, slack_server, fake_slack):
    app_services = services(slack_app)
    short = dict(lease=2.0, heartbeat=0.5, backoff=lambda attempts: 0.05)
    patient = app_services.config.with_overrides(slack_timeout=10.0)
    holder = DeliveryWorker(patient, app_services.database, **short)
    other = DeliveryWorker(patient, app_services.database, **short)
    other.worker_id = OTHER_HOST  # as if it ran on another host
    fake_slack.slow("chat.postMessage", delay=5.0)  # longer than two leases
    send(slack_server, trigger(1))
    holder.start(1)
    try:
        wait_for(lambda: fake_slack.calls_to("chat.postMessage"), 10, "the slow post started")
        other.start(2)
        wait_for(lambda: fake_slack.top_level(), 20, "the slow post answered")
        wait_for(lambda: queue.list_jobs(app_services.database)[0].status not in (JobStatus.PENDING, JobStatus.RUNNING), 10, "job finished")
    finally:
        other.stop()
        holder.stop()
    assert len(fake_slack.calls_to("chat.postMessage")) == 1  # the other never took it over
    assert queue.list_jobs(app_services.database)[0].status == JobStatus.DONE
