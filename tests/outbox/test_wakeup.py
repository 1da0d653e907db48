"""JobWakeup: a queued job wakes one idle delivery thread, and no wake-up is lost."""

from __future__ import annotations

import threading
import time
from collections import Counter

from bot.outbox.wakeup import JobWakeup
from tests.support.waiting import wait_for


class WatchedClock:
    """``time.monotonic``, noting how often each thread reads it. ``JobWakeup.wait`` reads
    it a second time under the lock that waiting releases, and a wake-up needs that lock:
    a wake-up given after a thread's second reading finds the thread waiting."""

    def __init__(self) -> None:
        self.readings: Counter[int] = Counter()
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self.readings[threading.get_ident()] += 1
        return time.monotonic()


def answers_of_waiting_threads(wakeup: JobWakeup, clock: WatchedClock, count: int, ring,
                               timeout: float):
    """What ``wait`` returns in ``count`` threads blocked in it when ``ring()`` is called
    (``wakeup`` made with ``clock``)."""
    results: list[bool] = []
    lock = threading.Lock()

    def wait() -> None:
        woken = wakeup.wait(timeout)
        with lock:
            results.append(woken)

    threads = [threading.Thread(target=wait) for _ in range(count)]
    for thread in threads:
        thread.start()
    wait_for(lambda: all(clock.readings[thread.ident] >= 2 for thread in threads),
             message="every thread waiting")
    ring()
    for thread in threads:
        thread.join(timeout + 5)
    return sorted(results)


def test_one_job_wakes_one_of_several_idle_threads():
    clock = WatchedClock()
    wakeup = JobWakeup(threads=4, clock=clock)
    assert answers_of_waiting_threads(wakeup, clock, 4, wakeup.notify_one, timeout=1.5) == [
        False, False, False, True]


def test_a_wake_up_given_while_no_thread_waits_is_kept_for_the_next():
    wakeup = JobWakeup(threads=2)
    wakeup.notify_one()  # the only thread was busy (between its claim and its wait)
    started = time.monotonic()
    assert wakeup.wait(5) is True
    assert time.monotonic() - started < 1
    assert wakeup.wait(0.05) is False  # taken once, not twice


def test_wake_ups_while_every_thread_is_busy_are_kept_only_once_per_thread():
    wakeup = JobWakeup(threads=2)
    for _ in range(50):
        wakeup.notify_one()
    assert [wakeup.wait(0.05) for _ in range(3)] == [True, True, False]


def test_stop_wakes_every_thread():
    clock = WatchedClock()
    wakeup = JobWakeup(threads=3, clock=clock)
    assert answers_of_waiting_threads(wakeup, clock, 3, wakeup.notify_all, timeout=5) == [True] * 3


def test_the_timer_wakes_one_thread_when_it_rings_and_not_before():
    clock = WatchedClock()
    wakeup = JobWakeup(threads=3, clock=clock)
    wakeup.notify_at(0.6)
    started = time.monotonic()
    assert wakeup.wait(0.3) is False  # not due yet
    assert answers_of_waiting_threads(wakeup, clock, 3, lambda: None, timeout=1.5) == [
        False, False, True]
    assert time.monotonic() - started >= 0.6


def test_an_earlier_time_brings_the_timer_forward_a_later_one_does_not():
    wakeup = JobWakeup(threads=1)
    wakeup.notify_at(5.0)
    wakeup.notify_at(0.2)
    wakeup.notify_at(3.0)
    started = time.monotonic()
    assert wakeup.wait(2.0) is True
    assert time.monotonic() - started < 1.0
