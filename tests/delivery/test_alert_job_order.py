"""Order of an alert's jobs, and merged parent refreshes, at the queue itself.

Jobs of one alert run one at a time in the order they were queued, except that a parent
refresh runs before earlier thread notes (which may wait long in the channel's post
queue). Clicks while a refresh is still waiting share it. The click's transaction and
the claim are made to overlap here on purpose: the suite runs on SQLite and, with
TEST_DATABASE_URL, on PostgreSQL, whose locking differs.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, select, update

from bot.clock import utcnow
from bot.db.models import AcknowledgementRow, DeliveryLaneRow, JobKind, JobRow, JobStatus
from bot.delivery.outcome import Done, Retry
from bot.outbox import queue
from bot.outbox.claimed import Claim
from bot.outbox.enqueue import enqueue, enqueue_parent_refresh
from bot.outbox.kinds import UPDATES_LANE
from bot.store.acknowledgements import AckOutcome, Clicker, set_acknowledgement
from bot.store.alerts import StoredAlert, alert_view, read_alert, record_parent
from bot.store.ingest import store_event
from bot.store.routes import DEFAULT_ROUTE
from bot.thousandeyes import ParseOptions, parse_event
from tests.support.payloads import load_sample
from tests.support.waiting import wait_for

LEASE = timedelta(seconds=60)
SLACK_CHANNEL = "C0ALERTS"
# The jobs name the channel the webhook asked for; "" is the configured default one.
JOB_CHANNEL = ""
THREAD_POSTS_HELD = True  # the channel's next post slot is far off: no posting job is claimable


@pytest.fixture
def alert_id(database) -> int:
    """An alert whose trigger was delivered: its parent message exists."""
    payload = load_sample("trigger")
    stored = store_event(database, parse_event(payload), route=DEFAULT_ROUTE, channel=JOB_CHANNEL,
                         body_text=json.dumps(payload), now=utcnow())
    trigger = claim(database)
    assert trigger is not None and trigger.kind == JobKind.ALERT_TRIGGER
    record_parent(database, stored.alert_pk, SLACK_CHANNEL, "1700000001.000100")
    assert complete(database, trigger)
    return stored.alert_pk


def claim(database, paced: bool = False) -> queue.ClaimedJob | None:
    return claim_reading(database, paced).job


def claim_reading(database, paced: bool = False) -> Claim[StoredAlert]:
    """A claim that reads the job's alert in its transaction, as delivery's does."""
    if paced:
        with database.session() as session:
            session.execute(update(DeliveryLaneRow)
                            .where(DeliveryLaneRow.lane.not_like(f"%{UPDATES_LANE}"))
                            .values(next_post_at=utcnow() + timedelta(minutes=10)))
    return queue.claim_next(database, "worker-1", utcnow(), LEASE,
                            read=lambda transaction, job: read_alert(transaction, job.alert_id,
                                                                     utcnow()))


def complete(database, job: queue.ClaimedJob) -> bool:
    return queue.finish(database, job, Done(), utcnow()).recorded


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
        assert queue.finish(database, job, Retry(60.0, "http_503"), utcnow()).recorded
    return job


def acknowledge(database, alert_id: int, user_id: str) -> None:
    clicker = Clicker(user_id=user_id, user_name=user_id.lower(), team_id=None,
                      channel_id=SLACK_CHANNEL)
    result = set_acknowledgement(database, alert_id, clicker, True, utcnow())
    assert result.outcome is AckOutcome.RECORDED


def open_jobs(database) -> list[tuple[str, str]]:
    with database.session() as session:
        rows = session.scalars(
            select(JobRow).where(JobRow.status.in_((JobStatus.PENDING, JobStatus.RUNNING)))
            .order_by(JobRow.id)
        )
        return [(row.kind, row.status) for row in rows]


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
def test_posts_still_wait_for_every_earlier_post_of_their_alert(database, alert_id, later_kind):
    earlier = open_job(database, alert_id, JobKind.ACK_NOTE, "running")
    later = add_job(database, alert_id, later_kind)
    assert claim(database) is None
    assert complete(database, earlier)
    claimed = claim(database)
    assert claimed is not None and claimed.id == later


@pytest.mark.parametrize("state", ["running", "pending"])
@pytest.mark.parametrize("later_kind", [JobKind.ACK_NOTE, JobKind.ALERT_CLEAR,
                                        JobKind.ALERT_TRIGGER])
def test_posts_do_not_wait_for_a_refresh_waiting_for_the_update_budget(database, alert_id,
                                                                      later_kind, state):
    # The refresh renders the state when it runs: it, or the one the post queues, shows
    # what the post changed.
    open_job(database, alert_id, JobKind.REFRESH_PARENT, state)
    later = add_job(database, alert_id, later_kind)
    claimed = claim(database)
    assert claimed is not None and claimed.id == later


def test_a_waiting_refresh_runs_once_the_trigger_is_delivered(database, alert_id):
    trigger = open_job(database, alert_id, JobKind.ALERT_TRIGGER, "running")
    note = add_job(database, alert_id, JobKind.ACK_NOTE)
    refresh = add_job(database, alert_id, JobKind.REFRESH_PARENT)
    assert claim(database) is None
    assert complete(database, trigger)
    # Both can go: the refresh need not wait for the note. (They are in two lanes, the
    # channel's posts and the updates, which take turns.)
    claimed = [claim(database), claim(database)]
    assert sorted(job.id if job else None for job in claimed) == [note, refresh]


def test_a_refresh_goes_ahead_of_notes_waiting_for_the_channel(database, alert_id):
    add_job(database, alert_id, JobKind.ACK_NOTE)
    refresh = add_job(database, alert_id, JobKind.REFRESH_PARENT)
    claimed = claim(database, paced=THREAD_POSTS_HELD)
    assert claimed is not None and claimed.id == refresh


# --- clicks share a refresh that has not started -----------------------------------------


def test_clicks_while_the_refresh_waits_share_it(database, alert_id):
    acknowledge(database, alert_id, "U0ALICE")
    acknowledge(database, alert_id, "U0BOB")
    assert open_jobs(database) == [
        (JobKind.REFRESH_PARENT, JobStatus.PENDING),
        (JobKind.ACK_NOTE, JobStatus.PENDING),
        (JobKind.ACK_NOTE, JobStatus.PENDING),
    ]


def test_a_click_after_the_refresh_started_queues_another(database, alert_id):
    acknowledge(database, alert_id, "U0ALICE")
    started = claim(database)
    assert started is not None and started.kind == JobKind.REFRESH_PARENT
    acknowledge(database, alert_id, "U0BOB")
    assert open_jobs(database) == [
        (JobKind.REFRESH_PARENT, JobStatus.RUNNING),
        (JobKind.ACK_NOTE, JobStatus.PENDING),
        (JobKind.REFRESH_PARENT, JobStatus.PENDING),
        (JobKind.ACK_NOTE, JobStatus.PENDING),
    ]
    # The running one may have rendered before Bob's click: the new one follows it.
    assert claim(database, paced=THREAD_POSTS_HELD) is None
    assert complete(database, started)
    following = claim(database, paced=THREAD_POSTS_HELD)
    assert following is not None and following.kind == JobKind.REFRESH_PARENT
    assert following.id != started.id


LOCKING = ("INSERT", "UPDATE", "DELETE")


class _WatchedLock:
    """A lock that tells when ``thread`` asks for it."""

    def __init__(self, lock, thread: threading.Thread, asked: threading.Event) -> None:
        self._lock, self._thread, self._asked = lock, thread, asked

    def acquire(self, *args, **kwargs) -> bool:
        if threading.get_ident() == self._thread.ident:
            self._asked.set()
        return self._lock.acquire(*args, **kwargs)

    def release(self) -> None:
        self._lock.release()


@contextmanager
def at_a_lock(database, thread: threading.Thread, monkeypatch) -> Iterator[threading.Event]:
    """Set once ``thread`` has asked for a lock the test may hold: on SQLite the process's
    writer turn, on PostgreSQL a statement that writes or locks rows (``FOR UPDATE``).
    From then on the thread is held by the lock, if one is in its way."""
    asked = threading.Event()

    def watch(conn, cursor, statement, parameters, context, executemany) -> None:
        text = statement.lstrip().upper()
        if threading.get_ident() == thread.ident and (
                text.startswith(LOCKING) or "FOR UPDATE" in text):
            asked.set()

    with monkeypatch.context() as patch:
        if database.is_sqlite:
            patch.setattr(database, "_writer_lock",
                          _WatchedLock(database._writer_lock, thread, asked))
        event.listen(database.engine, "before_cursor_execute", watch)
        try:
            yield asked
        finally:
            event.remove(database.engine, "before_cursor_execute", watch)


def test_no_worker_claims_the_refresh_a_click_is_joining(database, alert_id, monkeypatch):
    """... and the claim that takes it reads the alert with the click's acknowledgement
    (in its own transaction: what the refresh renders)."""
    acknowledge(database, alert_id, "U0ALICE")
    claims: list[tuple[Claim[StoredAlert], float]] = []

    def worker() -> None:
        claimed = claim_reading(database, paced=THREAD_POSTS_HELD)
        claims.append((claimed, time.monotonic()))

    with database.session() as click:  # Bob's click, held open while a worker looks
        joined = enqueue_parent_refresh(click, alert_id=alert_id, channel=JOB_CHANNEL,
                                        now=utcnow())
        click.add(AcknowledgementRow(alert_id=alert_id, user_id="U0BOB", user_name="bob",
                                     acknowledged_at=utcnow()))
        thread = threading.Thread(target=worker)
        with at_a_lock(database, thread, monkeypatch) as looking:
            thread.start()
            wait_for(looking.is_set, 10, "the worker at the lock")
        committing_at = time.monotonic()
    thread.join(10)
    # PostgreSQL skips the locked refresh; SQLite's claim waits for the commit.
    [(claimed, claimed_at)] = claims
    assert claimed.job is None or claimed_at > committing_at
    refresh = claimed if claimed.job is not None else claim_reading(database, THREAD_POSTS_HELD)
    assert refresh.job is not None and refresh.job.id == joined.id
    assert refresh.read is not None
    _, view = alert_view(refresh.read, options=ParseOptions())
    assert [r.user_id for r in view.responders] == ["U0ALICE", "U0BOB"]


def test_a_claim_reads_the_acknowledgement_committed_just_before_it(database, alert_id):
    acknowledge(database, alert_id, "U0ALICE")
    refresh = claim_reading(database, paced=THREAD_POSTS_HELD)
    assert refresh.job is not None and refresh.job.kind == JobKind.REFRESH_PARENT
    _, view = alert_view(refresh.read, options=ParseOptions())
    assert [r.user_id for r in view.responders] == ["U0ALICE"]


def test_a_click_during_a_claim_queues_its_own_refresh(database, alert_id, monkeypatch):
    acknowledge(database, alert_id, "U0ALICE")
    clicked = threading.Event()

    def bob_clicks() -> None:
        acknowledge(database, alert_id, "U0BOB")
        clicked.set()

    with database.session() as claiming:  # a worker's claim of the refresh, held open
        refresh = claiming.scalar(
            select(JobRow).where(JobRow.kind == JobKind.REFRESH_PARENT)
            .with_for_update(skip_locked=True)
        )
        refresh.status = JobStatus.RUNNING
        claiming.flush()
        thread = threading.Thread(target=bob_clicks)
        with at_a_lock(database, thread, monkeypatch) as writing:
            thread.start()
            wait_for(writing.is_set, 10, "Bob's click at the lock")
        # The click waits for the claim (row lock, or SQLite's single writer)...
        assert not clicked.is_set()
    thread.join(10)
    # ...then sees the refresh running, which may render without Bob: it adds its own.
    assert clicked.is_set()
    assert open_jobs(database) == [
        (JobKind.REFRESH_PARENT, JobStatus.RUNNING),
        (JobKind.ACK_NOTE, JobStatus.PENDING),
        (JobKind.REFRESH_PARENT, JobStatus.PENDING),
        (JobKind.ACK_NOTE, JobStatus.PENDING),
    ]
