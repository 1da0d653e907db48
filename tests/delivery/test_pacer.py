"""The channel pacer against a clock the test moves by hand."""

from __future__ import annotations

import threading

import pytest

from bot.delivery.pacer import ChannelPacer, JobPosts


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def pacer(clock: FakeClock) -> ChannelPacer:
    return ChannelPacer(interval=1.0, clock=clock)


def post_taking(pacer: ChannelPacer, clock: FakeClock, channel: str, seconds: float) -> None:
    """One job's post: reserve the slot, wait for it, post for ``seconds``, end the job."""
    clock.sleep(pacer.reserve_post(channel))
    clock.sleep(seconds)
    pacer.posted(channel)
    pacer.end_reservation(channel)


def test_the_next_slot_counts_from_the_answer_not_from_the_slot(pacer, clock):
    slot = clock.now
    post_taking(pacer, clock, "C1", 0.3)  # answered at slot + 0.3
    assert clock.now + pacer.seconds_until_slot("C1") == pytest.approx(slot + 0.3 + 1.0)
    assert pacer.reserve_post("C1") == pytest.approx(1.0)


def test_a_post_slower_than_the_interval_holds_the_next_one_back(pacer, clock):
    post_taking(pacer, clock, "C1", 2.5)
    assert pacer.reserve_post("C1") == pytest.approx(1.0)


def test_an_answer_never_brings_a_later_reservation_forward(pacer, clock):
    assert pacer.reserve_post("C1") == 0
    assert pacer.reserve_post("C1") == pytest.approx(1.0)  # next slot now at +2
    clock.sleep(0.2)
    pacer.posted("C1")
    assert pacer.seconds_until_slot("C1") == pytest.approx(1.8)


def test_a_failed_post_counts_as_a_post(pacer, clock):
    posts = JobPosts(pacer, "C1", sleep=clock.sleep)

    def fail() -> None:
        clock.sleep(0.4)
        raise TimeoutError("no answer")

    with pytest.raises(TimeoutError):
        posts.post(fail)
    assert pacer.seconds_until_slot("C1") == pytest.approx(1.0)


def test_concurrent_reservations_get_distinct_slots(pacer):
    waits: list[float] = []
    start = threading.Barrier(8)

    def reserve() -> None:
        start.wait()
        waits.append(pacer.reserve_post("C1"))

    threads = [threading.Thread(target=reserve) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert sorted(waits) == [pytest.approx(float(n)) for n in range(8)]


def test_channels_are_paced_independently(pacer):
    assert pacer.reserve_post("C1") == 0
    assert pacer.reserve_post("C2") == 0


def test_a_channel_with_a_post_running_stays_paced_until_its_job_ends(pacer, clock):
    pacer.reserve_post("C1")
    clock.sleep(5.0)  # long past the slot's interval, and still no answer
    assert pacer.snapshot() == (set(), {"C1"})
    pacer.posted("C1")
    pacer.end_reservation("C1")
    assert pacer.snapshot() == (set(), {"C1"})  # for the interval after the answer
    clock.sleep(1.0)
    assert pacer.snapshot() == (set(), set())


def test_a_job_that_did_not_post_frees_the_channel_at_its_slot(pacer, clock):
    pacer.reserve_post("C1")
    clock.sleep(0.1)
    pacer.end_reservation("C1")
    clock.sleep(0.9)
    assert pacer.snapshot() == (set(), set())
    assert pacer.reserve_post("C1") == 0


def test_with_no_interval_posts_to_one_channel_may_overlap(clock):
    pacer = ChannelPacer(interval=0.0, clock=clock)
    assert pacer.reserve_post("C1") == 0
    assert pacer.snapshot() == (set(), set())
    assert pacer.reserve_post("C1") == 0


def test_retry_after_blocks_the_channel(pacer, clock):
    pacer.block("C1", 5.0)
    assert pacer.snapshot() == ({"C1"}, set())
    assert pacer.seconds_until_next_change(default=30.0) == pytest.approx(5.0)
    assert pacer.reserve_post("C1") == pytest.approx(5.0)
    assert pacer.reserve_post("C2") == 0


def test_an_answer_does_not_shorten_a_block(pacer, clock):
    pacer.reserve_post("C1")
    pacer.block("C1", 5.0)
    pacer.posted("C1")
    pacer.end_reservation("C1")
    assert pacer.seconds_until_slot("C1") == pytest.approx(5.0)


def test_an_idle_worker_wakes_when_the_answered_post_frees_its_channel(pacer, clock):
    post_taking(pacer, clock, "C1", 0.3)
    assert pacer.seconds_until_next_change(default=30.0) == pytest.approx(1.0)


def test_a_jobs_first_post_uses_its_reserved_slot_and_a_second_waits(pacer, clock):
    pacer.reserve_post("C1")
    posts = JobPosts(pacer, "C1", sleep=clock.sleep)
    sent_at: list[float] = []

    def send() -> str:
        sent_at.append(clock.now)
        clock.sleep(0.2)
        return "ok"

    assert posts.post(send) == "ok"
    assert posts.post(send) == "ok"  # e.g. the retry after joining the channel
    assert sent_at[1] - sent_at[0] == pytest.approx(0.2 + 1.0)
    pacer.end_reservation("C1")
    assert pacer.seconds_until_slot("C1") == pytest.approx(1.0)
