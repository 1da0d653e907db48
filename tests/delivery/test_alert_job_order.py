"""Order of an alert's jobs at the queue itself.

Jobs of one alert run one at a time in the order they were queued, except that a parent
refresh runs before earlier thread notes (which may wait long in the channel's post
queue).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from bot.delivery import queue
from bot.store.alerts import record_parent
from bot.store.ingest import store_event
from bot.store.jobs import enqueue
from bot.store.models import JobKind
from bot.store.routes import DEFAULT_ROUTE
from bot.thousandeyes import parse_event, utcnow
from tests.support.payloads import load_sample

LEASE = timedelta(seconds=60)
SLACK_CHANNEL = "C0ALERTS"
# The jobs name the channel the webhook asked for; "" is the configured default one.
JOB_CHANNEL = ""
THREAD_POSTS_HELD = (JOB_CHANNEL,)  # as paced_channels: no job that posts is claimable


@pytest.fixture
def alert_id(database) -> int:
    """An alert whose trigger was delivered: its parent message exists."""
    payload = load_sample("trigger")
    stored = store_event(database, parse_event(payload), route=DEFAULT_ROUTE, channel=JOB_CHANNEL,
                         body_text=json.dumps(payload), now=utcnow())
    trigger = claim(database)
    assert trigger is not None and trigger.kind == JobKind.ALERT_TRIGGER
    record_parent(database, stored.alert_pk, SLACK_CHANNEL, "1700000001.000100")
    assert queue.complete(database, trigger, utcnow())
    return stored.alert_pk


def claim(database, paced=()) -> queue.ClaimedJob | None:
    return queue.claim_next(database, "worker-1", utcnow(), LEASE, paced_channels=paced)


def add_job(database, alert_id: int, kind: str) -> int:
    with database.session() as session:
        job = enqueue(session, kind=kind, alert_id=alert_id, channel=JOB_CHANNEL, now=utcnow())
        session.flush()
        return job.id


def open_job(database, alert_id: int, kind: str, state: str) -> queue.ClaimedJob:
    """A job of ``kind`` that is running, or pending but not due (it failed, retries later)."""
    add_job(database, alert_id, kind)
    job = claim(database)
    assert job is not None and job.kind == kind
    if state == "pending":
        assert queue.reschedule(database, job, utcnow(), 60.0, "http_503")
    return job


# --- which earlier jobs a job waits for --------------------------------------------------


@pytest.mark.parametrize("state", ["running", "pending"])
@pytest.mark.parametrize("earlier_kind, refresh_waits", [
    (JobKind.ALERT_TRIGGER, True),  # posts the parent, or updates it as re-triggered
    (JobKind.ALERT_CLEAR, True),  # updates the parent as cleared
    (JobKind.REFRESH_PARENT, True),  # two refreshes at once could land out of order
    (JobKind.ACK_NOTE, False),  # a thread note leaves the parent alone
])
def test_which_earlier_jobs_a_parent_refresh_waits_for(database, alert_id, earlier_kind,
                                                       refresh_waits, state):
    open_job(database, alert_id, earlier_kind, state)
    refresh = add_job(database, alert_id, JobKind.REFRESH_PARENT)
    claimed = claim(database)
    if refresh_waits:
        assert claimed is None
    else:
        assert claimed is not None and claimed.id == refresh


@pytest.mark.parametrize("later_kind", [JobKind.ACK_NOTE, JobKind.ALERT_CLEAR,
                                        JobKind.ALERT_TRIGGER])
@pytest.mark.parametrize("earlier_kind", [JobKind.ACK_NOTE, JobKind.REFRESH_PARENT])
def test_other_kinds_still_wait_for_every_earlier_job(database, alert_id, earlier_kind,
                                                      later_kind):
    earlier = open_job(database, alert_id, earlier_kind, "running")
    later = add_job(database, alert_id, later_kind)
    assert claim(database) is None
    assert queue.complete(database, earlier, utcnow())
    claimed = claim(database)
    assert claimed is not None and claimed.id == later


def test_a_waiting_refresh_runs_once_the_trigger_is_delivered(database, alert_id):
    trigger = open_job(database, alert_id, JobKind.ALERT_TRIGGER, "running")
    note = add_job(database, alert_id, JobKind.ACK_NOTE)
    refresh = add_job(database, alert_id, JobKind.REFRESH_PARENT)
    assert claim(database) is None
    assert queue.complete(database, trigger, utcnow())
    # Claims still take the job due longest first; the refresh need not wait for it.
    claimed = [claim(database), claim(database)]
    assert [job.id if job else None for job in claimed] == [note, refresh]


def test_a_refresh_goes_ahead_of_notes_waiting_for_the_channel(database, alert_id):
    add_job(database, alert_id, JobKind.ACK_NOTE)
    refresh = add_job(database, alert_id, JobKind.REFRESH_PARENT)
    claimed = claim(database, paced=THREAD_POSTS_HELD)
    assert claimed is not None and claimed.id == refresh
