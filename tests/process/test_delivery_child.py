"""``python -m bot serve`` delivers from a child process of each web worker, so webhooks
and delivery do not take turns on one interpreter lock: started, woken, restarted and
stopped with ``serve``, and never left behind it."""

from __future__ import annotations

import contextlib
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.db.models import JobStatus
from tests.faults.helpers import (
    Serve,
    alerts_in_slack,
    job_counts,
    outbox_idle,
    post_webhook,
    trigger,
)
from tests.support.metrics import scrape
from tests.support.processes import REPO, children_of, command_of, free_port, running
from tests.support.waiting import wait_for

# Delivery threads that find work on their own only every 30 s: a job reaches Slack
# sooner only when a wake-up reached a thread of the process that delivers.
LONG_IDLE_POLL = Path(__file__).resolve().parents[1] / "support" / "long_idle_poll"
STARTED = re.compile(r"delivery worker [^\s:]+:(\d+):\w+ started")


@contextlib.contextmanager
def _serving(tmp_path, database_url, fake_slack, name: str = "serve",
             **env: str) -> Iterator[Serve]:
    """A real ``serve`` posting to the fake Slack, stopped (if still running) at the end,
    whose log then shows no error."""
    settings = dict(DATABASE_URL=database_url, WEBHOOK_TOKEN="test-webhook-token-0123456789",
                    SLACK_BOT_TOKEN="xoxb-child", SLACK_API_URL=fake_slack.url,
                    SLACK_CHANNEL="C0ALERTS", SLACK_POST_INTERVAL="0", SLACK_TIMEOUT="5",
                    DELIVERY_PROCESS="child")
    serve = Serve(tmp_path, free_port(), name, **(settings | env))
    try:
        yield serve.wait_healthy(60)
    finally:
        serve.stop()
    assert "Traceback" not in serve.log()


def _web_worker(serve: Serve) -> int:
    [worker] = wait_for(lambda: children_of(serve.bot.process.pid), 30, "the web worker")
    return worker


def _delivery_process(serve: Serve, worker: int, not_this: int | None = None) -> int:
    """The one delivery process the web worker runs, once it has started delivering."""
    def found() -> int | None:
        children = [pid for pid in children_of(worker)
                    if command_of(pid)[2:4] == ["bot", "worker"] and running(pid)]
        assert len(children) <= 1, children
        started = children and children[0] != not_this and children[0] in _started(serve)
        return children[0] if started else None

    return wait_for(found, 60, "a delivery process")


def _started(serve: Serve) -> list[int]:
    """The processes whose delivery worker has said it started, in order."""
    return [int(pid) for pid in STARTED.findall(serve.log())]


def _posted(fake_slack, number: int) -> bool:
    return bool(alerts_in_slack(fake_slack).get(number))


def test_serve_delivers_from_a_child_of_its_web_worker_woken_at_once(
        tmp_path, database_url, fake_slack):
    long_idle_poll = f"{LONG_IDLE_POLL}{os.pathsep}{REPO}"
    with _serving(tmp_path, database_url, fake_slack, PYTHONPATH=long_idle_poll) as serve:
        worker = _web_worker(serve)
        child = _delivery_process(serve, worker)
        assert command_of(child)[:4] == [command_of(worker)[0], "-m", "bot", "worker"]
        assert _started(serve) == [child]  # not the web worker itself
        # Each webhook is posted long before the child's threads would look on their own.
        for number in range(3):
            assert post_webhook(serve.url, trigger(number)).status_code == 200
            wait_for(lambda number=number: _posted(fake_slack, number), 10,
                     f"alert {number} posted: the web worker woke the delivery process")


def test_serve_metrics_count_what_the_delivery_process_delivered(
        tmp_path, database_url, fake_slack):
    with _serving(tmp_path, database_url, fake_slack) as serve:
        _delivery_process(serve, _web_worker(serve))
        for number in range(2):
            assert post_webhook(serve.url, trigger(number)).status_code == 200
        wait_for(lambda: scrape(serve.url).value("thousandeyes_deliveries_total",
                                                 outcome="delivered") == 2, 30, "counted")
        metrics = scrape(serve.url)
        assert metrics.value("thousandeyes_accepted_to_posted_seconds_count") == 2
        assert metrics.value("thousandeyes_webhooks_total", status="200") == 2


@pytest.mark.parametrize("stop", ["SIGTERM to serve", "Ctrl-C"])
def test_stopping_serve_stops_the_delivery_process_after_its_job_in_hand(
        tmp_path, database_url, fake_slack, stop):
    fake_slack.slow("chat.postMessage", 2.0)
    with _serving(tmp_path, database_url, fake_slack) as serve:
        worker = _web_worker(serve)
        child = _delivery_process(serve, worker)
        assert post_webhook(serve.url, trigger(1)).status_code == 200
        wait_for(lambda: fake_slack.calls_to("chat.postMessage"), 30, "a post in hand")
        if stop == "Ctrl-C":  # a terminal signals the whole foreground group
            os.killpg(serve.bot.process.pid, signal.SIGINT)
            serve.bot.process.wait(30)
        serve.stop()  # SIGTERM, as Heroku and systemd stop it
    assert serve.bot.process.returncode == 0
    assert not running(worker) and not running(child)
    assert _posted(fake_slack, 1)  # finished, not cut off
    assert job_counts(database_url) == {JobStatus.DONE: 1}
    assert "starting it again" not in serve.log()


def test_a_killed_delivery_process_is_started_again(tmp_path, database_url, fake_slack):
    with _serving(tmp_path, database_url, fake_slack) as serve:
        worker = _web_worker(serve)
        child = _delivery_process(serve, worker)
        assert post_webhook(serve.url, trigger(1)).status_code == 200
        wait_for(lambda: _posted(fake_slack, 1), 30, "the first alert posted")
        os.kill(child, signal.SIGKILL)
        again = _delivery_process(serve, worker, not_this=child)
        assert post_webhook(serve.url, trigger(2)).status_code == 200
        wait_for(lambda: _posted(fake_slack, 2), 30, "the next alert posted by the new one")
        assert _started(serve) == [child, again]
        [line] = [line for line in serve.log().splitlines() if f"process {child} " in line]
        assert "SIGKILL" in line and "starting it again" in line


def test_a_killed_web_worker_takes_its_delivery_process_with_it(
        tmp_path, database_url, fake_slack):
    with _serving(tmp_path, database_url, fake_slack) as serve:
        worker = _web_worker(serve)
        child = _delivery_process(serve, worker)
        os.kill(worker, signal.SIGKILL)  # gunicorn's own timeout kills a stuck worker so
        wait_for(lambda: not running(child), 10, "the delivery process gone with its parent")
        replacement = wait_for(lambda: [pid for pid in children_of(serve.bot.process.pid)
                                        if pid != worker], 30, "gunicorn's new worker")
        _delivery_process(serve, replacement[0])
        assert post_webhook(serve.url, trigger(1)).status_code == 200
        wait_for(lambda: _posted(fake_slack, 1), 30, "posted by the new worker's process")


@pytest.mark.parametrize("kill", ["tree", "master"])
def test_kill_9_leaves_no_delivery_process_and_a_restart_delivers_once(
        tmp_path, database_url, fake_slack, kill):
    fake_slack.go_down()  # nothing posts: every job stays queued or in hand
    with _serving(tmp_path, database_url, fake_slack, name="first") as first:
        worker = _web_worker(first)
        child = _delivery_process(first, worker)
        for number in range(5):
            assert post_webhook(first.url, trigger(number)).status_code == 200
        wait_for(lambda: fake_slack.calls_to("chat.postMessage"), 30, "delivery under way")
        if kill == "tree":
            first.kill_9()
        else:
            os.kill(first.bot.process.pid, signal.SIGKILL)
            first.bot.process.wait(10)
        wait_for(lambda: not running(worker) and not running(child), 30,
                 "no process of the killed serve left")
    fake_slack.come_back()
    with _serving(tmp_path, database_url, fake_slack, name="second"):
        wait_for(lambda: all(_posted(fake_slack, n) for n in range(5)), 60, "all posted")
        wait_for(lambda: outbox_idle(database_url), 30, "outbox idle")
        posted = alerts_in_slack(fake_slack)
        assert [len(posted[number].parents) for number in range(5)] == [1] * 5
        assert len(fake_slack.calls_to("chat.postMessage", ok_only=True)) == 5


def test_inline_delivery_runs_threads_in_the_web_worker(tmp_path, database_url, fake_slack):
    with _serving(tmp_path, database_url, fake_slack, DELIVERY_PROCESS="inline") as serve:
        worker = _web_worker(serve)
        wait_for(lambda: _started(serve), 30, "delivery started")
        assert _started(serve) == [worker]
        assert children_of(worker) == []
        assert post_webhook(serve.url, trigger(1)).status_code == 200
        wait_for(lambda: _posted(fake_slack, 1), 30, "posted")


def test_no_delivery_threads_start_no_delivery_process(tmp_path, database_url, fake_slack):
    with _serving(tmp_path, database_url, fake_slack, DELIVERY_THREADS="0") as serve:
        worker = _web_worker(serve)
        wait_for(lambda: "this process only accepts webhooks" in serve.log(), 30)
        assert post_webhook(serve.url, trigger(1)).status_code == 200
        assert children_of(worker) == [] and _started(serve) == []
        assert job_counts(database_url) == {JobStatus.PENDING: 1}


def test_by_default_serve_delivers_from_a_process_with_postgresql_only(
        tmp_path, database_url, fake_slack):
    # DELIVERY_PROCESS=auto, the default: a process of its own with PostgreSQL, whose
    # webhook transactions waited for the interpreter lock while delivery threads held
    # it; threads of the web worker with SQLite, whose one writer takes turns anyway.
    with _serving(tmp_path, database_url, fake_slack, DELIVERY_PROCESS="auto") as serve:
        worker = _web_worker(serve)
        if database_url.startswith("sqlite"):
            wait_for(lambda: _started(serve), 30, "delivery started")
            assert _started(serve) == [worker] and children_of(worker) == []
        else:
            assert _started(serve) == [_delivery_process(serve, worker)]
        assert post_webhook(serve.url, trigger(1)).status_code == 200
        wait_for(lambda: _posted(fake_slack, 1), 30, "posted")
