"""After a crash mid-post, every job whose message may exist looks for it before posting
again, even when the workspace's budget of history reads is spent: it waits for Slack's
history limit rather than post what Slack most likely showed already.

(A job that saw its answer lost while running, a timeout or a 5xx during an outage, may
still post without looking once the budget is spent: bench/README.md and the README's
"Delivery" section state that trade-off.)
"""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select, update

from bot.clock import utcnow
from bot.db.models import AlertRow, DeliveryLaneRow, JobRow, JobStatus
from bot.delivery.runner import DeliveryWorker
from bot.outbox import circuit
from bot.slack.gateway import POST_MARKER_EVENT
from bot.web.services import services
from tests.faults.helpers import trigger
from tests.support.delivery import send
from tests.support.fake_slack import Message
from tests.support.waiting import wait_for

DEAD_HOLDER = "another-dyno.1:4242:deadbeef"


def _died_while_posting(database, fake_slack, job_ids: list[int]) -> None:
    """Each job was claimed by a process that posted it (Slack shows the message with the
    job's marker), then died before recording anything; its lease has just lapsed."""
    lapsed = utcnow() - timedelta(seconds=1)
    for job_id in job_ids:
        posted_at = time.time() - 3
        fake_slack.messages.append(Message(
            channel="C0ALERTS", ts=f"{posted_at:.6f}", text="🔴 Triggered: posted before the crash",
            blocks=[], metadata={"event_type": POST_MARKER_EVENT,
                                 "event_payload": {"marker": f"job-{job_id}"}}))
        with database.session() as session:
            session.execute(update(JobRow).where(JobRow.id == job_id).values(
                status=JobStatus.RUNNING, locked_by=DEAD_HOLDER, locked_until=lapsed,
                attempts=1, progress={"in_flight": f"job-{job_id}",
                                      "in_flight_since": posted_at - 1}))
    with database.session() as session:
        session.execute(update(DeliveryLaneRow).values(held_by=None, held_until=None))


def test_jobs_that_died_mid_post_wait_for_a_history_read_rather_than_post_twice(
    slack_app, slack_server, fake_slack
):
    database = services(slack_app).database
    for number in (1, 2, 3):
        send(slack_server, trigger(number))
    with database.session() as session:
        job_ids = list(session.scalars(select(JobRow.id).order_by(JobRow.id)))
    _died_while_posting(database, fake_slack, job_ids)
    # Slack allows one history read per window (a minute, shortened here); this
    # workspace's own budget of reads is spent already.
    fake_slack.history_calls_per_minute = 1
    fake_slack.history_window = 2.0
    assert circuit.take_lookup(database, None, False, utcnow(), timedelta(minutes=1))

    worker = DeliveryWorker(services(slack_app).config, database, backoff=lambda attempts: 0.05)
    worker.start(2)
    try:
        wait_for(lambda: _parents_recorded(database) == 3, 30, "every parent recorded")
    finally:
        worker.stop()
    assert fake_slack.calls_to("chat.postMessage") == []  # nothing posted again
    assert len(fake_slack.top_level("C0ALERTS")) == 3
    reads = fake_slack.calls_to("conversations.history")
    assert len(reads) >= 3 and any(call.status == 429 for call in reads)


def _parents_recorded(database) -> int:
    with database.session() as session:
        return len(list(session.scalars(select(AlertRow.id).where(AlertRow.slack_ts.is_not(None)))))
