"""The ThousandEyes API down, slow, unauthorized or rate limiting: webhooks still answer 200
at once, /healthz and the front page say the API's state in one line, a 429's reset is
honoured by every process, and the runs are counted. Without a token nothing changes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import select, update

from bot.clock import utcnow
from bot.db.models import ThousandEyesSyncRow
from bot.metrics.counters import Metrics
from tests.support.delivery import drain, send, serving
from tests.support.fake_thousandeyes import TOKEN, Operation
from tests.support.payloads import numbered_alert_event
from tests.support.thousandeyes_webhooks import http_alert
from tests.support.waiting import wait_for


@pytest.fixture
def linked(slack_config, fake_slack, fake_thousandeyes):
    config = slack_config.with_overrides(thousandeyes_api_token=TOKEN,
                                         thousandeyes_api_url=fake_thousandeyes.url)
    with serving(config) as (server, worker):
        yield server, worker


def health(server) -> tuple[int, dict]:
    answer = requests.get(server.url + "/healthz", timeout=10)
    return answer.status_code, answer.json()


def front_page_line(server) -> str | None:
    page = requests.get(server.url + "/", timeout=10).text
    marker = 'id="thousandeyes-api"'
    if marker not in page:
        return None
    return page.split(marker, 1)[1].split(">", 1)[1].split("</td>", 1)[0].strip()


def make_due(worker) -> None:
    with worker.database.session() as session:
        session.execute(update(ThousandEyesSyncRow).values(next_run_at=utcnow()))


def sync_row(worker) -> ThousandEyesSyncRow:
    with worker.database.session() as session:
        return session.scalars(select(ThousandEyesSyncRow)).one()


def test_a_401_is_said_in_one_line_with_its_fix_and_counted(linked, fake_thousandeyes):
    server, worker = linked
    metrics = Metrics()
    worker.api_sync.on_run = metrics.api_sync_ran
    fake_thousandeyes.token = "another-token-0123456789"  # the token was revoked

    report = worker.api_sync.run_if_due()

    assert report.outcome == "unauthorized"
    line = "ThousandEyes API: unauthorized (401) — check THOUSANDEYES_API_TOKEN"
    status, body = health(server)
    assert status == 200 and body["thousandeyes_api"] == line  # never a 503 for it
    assert front_page_line(server) == line
    assert TOKEN not in requests.get(server.url + "/", timeout=10).text
    assert metrics.registry.get_sample_value(
        "thousandeyes_api_syncs_total", {"outcome": "unauthorized"}) == 1
    assert worker.api_sync.run_if_due() is None  # tried again next interval, not at once


def test_an_ok_run_says_when_and_counts_what_it_changed(linked, fake_thousandeyes):
    server, worker = linked
    metrics = Metrics()
    worker.api_sync.on_run = metrics.api_sync_ran
    assert front_page_line(server) == "ThousandEyes API: linked; the first sync has not run yet"
    http_alert(fake_thousandeyes.account)
    assert worker.api_sync.run_if_due().found == 1
    last = sync_row(worker).last_ok_at
    assert health(server)[1]["thousandeyes_api"] == \
        f"ThousandEyes API: ok, last sync {last:%H:%M} UTC"
    assert metrics.registry.get_sample_value("thousandeyes_api_syncs_total",
                                             {"outcome": "ok"}) == 1
    assert metrics.registry.get_sample_value("thousandeyes_api_sync_changes_total",
                                             {"change": "found"}) == 1


def test_a_429_is_waited_out_by_every_process_until_its_reset(linked, fake_thousandeyes):
    server, worker = linked
    fake_thousandeyes.fail(Operation.GET_ALERTS, 429, reset_in=40)
    started = time.monotonic()
    report = worker.api_sync.run_if_due()
    assert time.monotonic() - started < 5  # never slept inside the call
    assert report.outcome == "rate_limited"
    blocked = sync_row(worker).blocked_until
    assert 35 <= (blocked - datetime.now(UTC)).total_seconds() <= 41
    assert health(server)[1]["thousandeyes_api"] == \
        f"ThousandEyes API: rate limited until {blocked:%H:%M:%S} UTC"

    make_due(worker)  # even when the interval has passed, not before the reset
    calls = len(fake_thousandeyes.calls)
    assert worker.api_sync.run_if_due() is None and len(fake_thousandeyes.calls) == calls
    base = worker.api_sync.clock
    worker.api_sync.clock = lambda: base() + timedelta(seconds=41)
    assert worker.api_sync.run_if_due().outcome == "ok"


@pytest.mark.parametrize("mode, words", [
    ("503", "ThousandEyes API: unreachable (503); no sync has succeeded yet"),
    ("refuse", "ThousandEyes API: unreachable (connection refused); no sync has succeeded yet"),
])
def test_an_outage_is_unreachable(linked, fake_thousandeyes, mode, words):
    server, worker = linked
    fake_thousandeyes.go_down(mode)
    assert worker.api_sync.run_if_due().outcome == "unreachable"
    assert health(server)[1]["thousandeyes_api"] == words
    fake_thousandeyes.come_back()


def test_webhooks_answer_at_once_while_the_api_hangs_the_running_sync(
        linked, fake_slack, fake_thousandeyes):
    server, worker = linked
    fake_thousandeyes.stall(Operation.GET_ALERTS)
    worker.start(1)  # the sync runs at start, on its own thread
    wait_for(lambda: fake_thousandeyes.calls_to(Operation.GET_ALERTS), 10,
             "the sync's first call in flight")
    answered = []
    for number in range(20):
        started = time.monotonic()
        send(server, numbered_alert_event("trigger", number, "outage", f"test {number}"))
        answered.append(time.monotonic() - started)
    assert health(server)[0] == 200
    # Held behind the sync, a webhook would wait for the API's 20 s read timeout; a
    # loaded machine answers in well under 5 s.
    assert max(answered) < 5.0, answered
    wait_for(lambda: len(fake_slack.top_level()) == 20, 30, "the 20 alerts posted")
    fake_thousandeyes.release()
    wait_for(lambda: sync_row(worker).state != "pending", 30, "the sync's outcome")
    assert sync_row(worker).state == "ok"


def test_without_a_token_nothing_changes(slack_config, fake_slack):
    with serving(slack_config) as (server, worker):
        assert worker.api_sync is None
        send(server, numbered_alert_event("trigger", 1, "plain", "test"))
        drain(worker)
        status, body = health(server)
        assert status == 200 and "thousandeyes_api" not in body
        assert front_page_line(server) is None
        with worker.database.session() as session:
            assert session.scalars(select(ThousandEyesSyncRow)).all() == []
