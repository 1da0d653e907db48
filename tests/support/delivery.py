"""Helpers to drive delivery in tests without sleeping blindly."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import requests
from sqlalchemy import func, select, update

from bot.clock import utcnow
from bot.config import Config
from bot.db.models import DeliveryLaneRow, JobRow, JobStatus
from bot.delivery.runner import DeliveryWorker
from bot.outbox.kinds import UPDATES_LANE
from bot.process.app import create_app
from bot.web.services import services
from tests.support.fake_slack import FakeSlack, Message
from tests.support.servers import LiveServer

TOKEN_HEADER = {"Authorization": "Bearer test-webhook-token-0123456789"}


def send(server, payload, *, channel: str | None = None) -> requests.Response:
    path = "/webhooks/thousandeyes" + (f"?channel={channel}" if channel else "")
    response = requests.post(server.url + path, data=json.dumps(payload),
                             headers=TOKEN_HEADER, timeout=10)
    assert response.status_code == 200, response.text
    return response


def open_jobs(worker: DeliveryWorker) -> int:
    with worker.database.session() as session:
        return session.scalar(
            select(func.count()).select_from(JobRow).where(
                JobRow.status.in_((JobStatus.PENDING, JobStatus.RUNNING))
            )
        )


def drain(worker: DeliveryWorker, timeout: float = 20.0,
          still_open: Callable[[DeliveryWorker], int] = open_jobs,
          after_each: Callable[[], None] | None = None) -> None:
    """Run jobs until none is pending or running (waiting out retries), or fail;
    ``after_each`` is called after each job run (a test looking at what one job did)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.run_once():
            if after_each is not None:
                after_each()
            continue
        if still_open(worker) == 0:
            return
        time.sleep(0.02)
    raise AssertionError(f"jobs still open after {timeout}s: {still_open(worker)}")


@contextmanager
def serving(config: Config) -> Iterator[tuple[LiveServer, DeliveryWorker]]:
    """The app for ``config`` on loopback (webhook over HTTP) and a delivery worker that
    the test drives with :func:`drain`."""
    app = create_app(config)
    worker = DeliveryWorker(services(app).config, services(app).database,
                            backoff=lambda attempts: 0.05)
    try:
        with LiveServer(app) as server:
            yield server, worker
    finally:
        worker.stop()
        services(app).database.dispose()


def hold_lanes(worker: DeliveryWorker, seconds: float) -> None:
    """Push every channel's next post slot out, as a storm of posts (in any process) would."""
    with worker.database.session() as session:
        session.execute(update(DeliveryLaneRow)
                        .where(DeliveryLaneRow.lane.not_like(f"%:{UPDATES_LANE}"))
                        .values(next_post_at=utcnow() + timedelta(seconds=seconds)))


def release_lanes(worker: DeliveryWorker) -> None:
    with worker.database.session() as session:
        session.execute(update(DeliveryLaneRow).values(next_post_at=utcnow()))


def open_due_jobs(worker: DeliveryWorker) -> int:
    """Pending or running jobs due now: a reminder due in an hour is not work yet."""
    with worker.database.session() as session:
        return session.scalar(
            select(func.count()).select_from(JobRow).where(
                JobRow.status.in_((JobStatus.PENDING, JobStatus.RUNNING)),
                JobRow.next_attempt_at <= utcnow(),
            )
        )


def drain_due(worker: DeliveryWorker, timeout: float = 20.0) -> None:
    """:func:`drain` for runs with jobs due later (reminders): until none is due now."""
    drain(worker, timeout, still_open=open_due_jobs)


def make_due(worker: DeliveryWorker, job: JobRow) -> None:
    """The clock reaching a job due later: it and its lane become due now."""
    now = utcnow()
    with worker.database.session() as session:
        session.execute(update(JobRow).where(JobRow.id == job.id,
                                             JobRow.status == JobStatus.PENDING)
                        .values(next_attempt_at=now))
        session.execute(update(DeliveryLaneRow).where(DeliveryLaneRow.lane == job.lane)
                        .values(ready_at=now))


def is_announcement(message: Message) -> bool:
    """A message telling the channel who connected, disconnected or snoozed something."""
    return any(block.get("block_id") == "te_announcement" for block in message.blocks)


def announcements(fake_slack: FakeSlack, channel: str | None = None) -> list[str]:
    """What everyone in the channel read about its webhooks and snoozes, oldest first."""
    return [m.text for m in fake_slack.top_level(channel) if is_announcement(m)]


def alert_messages(fake_slack: FakeSlack, channel: str | None = None) -> list[Message]:
    """The channel's top-level messages about alerts: announcements left out."""
    return [m for m in fake_slack.top_level(channel) if not is_announcement(m)]
