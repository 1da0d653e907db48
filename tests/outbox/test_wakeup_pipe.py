"""Wake-ups through a pipe, as a web worker gives them to its delivery process: each
arrives as it was given (now, or at its moment), and neither end ever blocks the other."""

from __future__ import annotations

import os
import threading

from bot.outbox.wakeup import JobWakeup
from bot.outbox.wakeup_pipe import WakeupPipeWriter, relay_wakeups
from tests.support.waiting import wait_for


class Clock:
    """One monotonic clock for both ends, as CLOCK_MONOTONIC is for every process."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Heard:
    """What the reading end rang, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []
        self._lock = threading.Lock()

    def notify_one(self) -> None:
        with self._lock:
            self.calls.append(("now", 0.0))

    def notify_at(self, seconds_from_now: float) -> None:
        with self._lock:
            self.calls.append(("in", seconds_from_now))


def _pipe(heard, clock: Clock) -> tuple[WakeupPipeWriter, threading.Event]:
    read_end, write_end = os.pipe()
    closed = threading.Event()
    relay_wakeups(read_end, heard, closed.set, clock=clock)
    return WakeupPipeWriter(write_end, clock=clock), closed


def test_each_wakeup_arrives_as_given_and_the_reader_hears_the_writer_close():
    clock, heard = Clock(), Heard()
    writer, closed = _pipe(heard, clock)
    writer.notify_one()
    writer.notify_at(2.5)
    writer.notify_at(0)  # due now
    wait_for(lambda: len(heard.calls) == 3, 10)
    assert sorted(heard.calls) == [("in", 2.5), ("now", 0.0), ("now", 0.0)]
    writer.close()
    assert closed.wait(10)
    writer.notify_one()  # after close: nothing, and no error


def test_a_timer_counts_from_when_it_was_given_not_from_when_it_was_read():
    clock, heard = Clock(), Heard()
    read_end, write_end = os.pipe()
    writer = WakeupPipeWriter(write_end, clock=clock)
    writer.notify_at(5.0)  # at 1005
    writer.notify_at(9.0)
    clock.now += 2.0  # the reader is late
    relay_wakeups(read_end, heard, lambda: None, clock=clock)
    wait_for(lambda: heard.calls, 10)
    assert heard.calls == [("in", 3.0)]  # the earliest; the later one is found when it is due
    writer.close()


def test_a_real_wakeup_rings_idle_delivery_threads_across_the_pipe():
    wake = JobWakeup(threads=1)
    read_end, write_end = os.pipe()
    relay_wakeups(read_end, wake, lambda: None)
    writer = WakeupPipeWriter(write_end)
    web_side = JobWakeup()
    web_side.forward_to(writer)
    web_side.notify_one()
    assert wake.wait(10)
    web_side.forward_to(None)
    web_side.notify_one()
    assert not wake.wait(0.2)
    writer.close()


def test_the_writer_never_blocks_on_a_reader_that_is_behind_or_gone():
    read_end, write_end = os.pipe()
    writer = WakeupPipeWriter(write_end)
    for _ in range(20_000):  # more than a pipe holds: the rest are dropped
        writer.notify_one()
    os.close(read_end)
    writer.notify_one()  # no reader: dropped too
    writer.close()
