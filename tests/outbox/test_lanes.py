"""Pacing shared through the database: lanes, holds, Retry-After, against a clock moved by hand.

Every claim and finish names its time, so these tests move time by hand; the delivery
processes that share a database see the same lanes (tests/delivery/test_shared_pacing.py
runs them as real processes).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.clock import utcnow
from bot.db.models import DeliveryLaneRow, JobKind, JobRow, WaitingFor
from bot.delivery.outcome import Done, Retry
from bot.delivery.pacer import JobPosts
from bot.outbox import leases, queue
from bot.outbox.enqueue import enqueue
from bot.outbox.queue import LaneAfter
from bot.slack.gateway import Posted

LEASE = timedelta(seconds=30)


def seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


@pytest.fixture
def t0():
    return utcnow()


def queue_posts(database, channel: str, count: int, now) -> list[int]:
    with database.session() as session:
        jobs = [enqueue(session, kind=JobKind.WEBHOOK_TEST, alert_id=None, channel=channel,
                        now=now) for _ in range(count)]
        session.flush()
        return [job.id for job in jobs]


def claim(database, now, interval: float = 1.0, worker: str = "w"):
    return queue.claim_next(database, worker, now, LEASE, interval)


def test_the_next_post_waits_a_full_interval_after_the_answer(database, t0):
    first_id, second_id = queue_posts(database, "C1", 2, t0)
    first = claim(database, t0).job
    assert first.id == first_id and first.holds_lane
    answered = t0 + seconds(0.3)
    assert queue.finish(database, first, Done(), answered,
                        LaneAfter(next_post_at=answered + seconds(1))).recorded
    early = claim(database, t0 + seconds(1.2))
    assert early.job is None and early.next_due == t0 + seconds(1.3)
    assert claim(database, t0 + seconds(1.3)).job.id == second_id


def test_a_post_in_flight_holds_its_channel_until_its_job_ends(database, t0):
    queue_posts(database, "C1", 2, t0)
    [other] = queue_posts(database, "C2", 1, t0)
    assert claim(database, t0).job is not None
    # Long past the interval and the post has not answered: the channel stays held,
    # for every process; another channel is not held up.
    assert claim(database, t0 + seconds(5), worker="another process").job.id == other
    assert claim(database, t0 + seconds(6), worker="another process").job is None


def test_a_lease_that_lapses_frees_the_channel(database, t0):
    queue_posts(database, "C1", 2, t0)
    assert claim(database, t0).job is not None
    assert claim(database, t0 + LEASE + seconds(1)).job is not None


def test_retry_after_binds_every_process_and_is_not_a_failed_attempt(database, t0):
    queue_posts(database, "C1", 2, t0)
    limited = claim(database, t0).job
    assert queue.finish(database, limited, Retry(5, "ratelimited", WaitingFor.RATE_LIMIT,
                                                 counts=False),
                        t0, LaneAfter(next_post_at=t0 + seconds(5))).recorded
    assert claim(database, t0 + seconds(4.9), worker="another process").job is None
    other = claim(database, t0 + seconds(5), worker="another process").job
    assert other.id != limited.id  # due since t0, before the limited job's retry
    queue.finish(database, other, Done(), t0 + seconds(5.1),
                 LaneAfter(next_post_at=t0 + seconds(6.1)))
    again = claim(database, t0 + seconds(6.1), worker="another process").job
    assert again.id == limited.id and again.attempts == 1  # the 429 was not counted


def test_with_no_interval_posts_to_one_channel_may_overlap(database, t0):
    queue_posts(database, "C1", 2, t0)
    first, second = claim(database, t0, interval=0).job, claim(database, t0, interval=0).job
    assert first is not None and second is not None and not first.holds_lane


def test_an_empty_lane_is_idle_until_a_job_is_queued(database, t0):
    [only] = queue_posts(database, "C1", 1, t0)
    job = claim(database, t0).job
    queue.finish(database, job, Done(), t0, LaneAfter(next_post_at=t0 + seconds(1)))
    nothing = claim(database, t0 + seconds(2))
    assert nothing.job is None and nothing.next_due is None
    with database.session() as session:
        assert session.get(DeliveryLaneRow, ":C1").ready_at is None
    queue_posts(database, "C1", 1, t0 + seconds(3))
    assert claim(database, t0 + seconds(3)).job is not None


def test_a_lane_answers_with_the_channel_id_a_post_learnt(database, t0):
    queue_posts(database, "#secops", 2, t0)
    job = claim(database, t0).job
    queue.finish(database, job, Done(), t0, LaneAfter(next_post_at=t0, channel_id="G0SECOPS"))
    assert claim(database, t0 + seconds(1)).job.lane_channel_id == "G0SECOPS"


def test_a_heartbeat_keeps_the_lease_and_a_lapsed_one_is_taken_over(database, t0):
    [job_id] = queue_posts(database, "C1", 1, t0)
    job = claim(database, t0, worker="host-a:1:x").job
    leases.heartbeat(database, "host-a:1:x", {job.hold_key}, t0 + seconds(20), LEASE)
    assert leases.expire_leases(database, t0 + seconds(40)) == 0  # renewed at 20 s
    assert leases.expire_leases(database, t0 + seconds(51)) == 1
    taken = claim(database, t0 + seconds(51), worker="host-b:2:y").job
    assert taken.id == job_id
    # The first holder's late answer must not overwrite the new claim.
    assert not queue.finish(database, job, Done(), t0 + seconds(52)).recorded
    with database.session() as session:
        assert session.scalars(select(JobRow.locked_by)).one() == "host-b:2:y"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.wall = utcnow()

    def __call__(self) -> float:
        return self.now

    def wall_clock(self):
        return self.wall + seconds(self.now - 1000.0)

    def sleep(self, value: float) -> None:
        self.now += value


def test_a_jobs_second_post_waits_an_interval_after_the_first_answer():
    clock = FakeClock()
    posts = JobPosts(1.0, sleep=clock.sleep, clock=clock, wall_clock=clock.wall_clock)
    sent_at: list[float] = []

    def send() -> Posted:
        sent_at.append(clock.now)
        clock.sleep(0.2)
        return Posted("C1", "1.0")

    posts.post(send)
    posts.post(send)  # e.g. the retry after joining the channel
    assert sent_at[1] - sent_at[0] == pytest.approx(0.2 + 1.0)
    assert posts.next_post_at() == clock.wall_clock() + seconds(1.0)
    assert posts.channel_id == "C1"


def test_a_failed_post_counts_as_a_post():
    clock = FakeClock()
    posts = JobPosts(1.0, sleep=clock.sleep, clock=clock, wall_clock=clock.wall_clock)

    def fail() -> None:
        clock.sleep(0.4)
        raise TimeoutError("no answer")

    with pytest.raises(TimeoutError):
        posts.post(fail)
    assert posts.next_post_at() == clock.wall_clock() + seconds(1.0)


def test_a_job_may_be_claimed_a_moment_before_its_slot_and_posts_at_the_slot(database, t0):
    queue_posts(database, "C1", 2, t0)
    first = claim(database, t0).job
    slot = t0 + seconds(1.3)
    queue.finish(database, first, Done(), t0 + seconds(0.3), LaneAfter(next_post_at=slot))
    assert queue.claim_next(database, "w", t0 + seconds(1.0), LEASE, 1.0,
                            lookahead=seconds(0.25)).job is None
    early = queue.claim_next(database, "w", t0 + seconds(1.1), LEASE, 1.0,
                             lookahead=seconds(0.25)).job
    assert early is not None and early.post_at == slot


def test_the_first_post_of_a_job_claimed_early_waits_for_the_slot():
    clock = FakeClock()
    slot = clock.wall_clock() + seconds(0.2)
    posts = JobPosts(1.0, sleep=clock.sleep, clock=clock, wall_clock=clock.wall_clock,
                     first_at=slot)
    sent_at = []
    posts.post(lambda: sent_at.append(clock.wall_clock()))
    assert sent_at == [slot]
