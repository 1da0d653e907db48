"""STALE_AFTER: an open alert with no news says so, stays acknowledgeable, and a late clear
still threads. Time passes by moving the alert's last event back, not by sleeping."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.clock import utcnow
from bot.db.models import AlertRow, JobKind, JobRow, JobStatus
from bot.delivery.runner import DeliveryWorker
from bot.render.actions import ACKNOWLEDGE, encode_alert_ref
from bot.store.stale import BATCH, StaleSweep, mark_stale_alerts
from tests.support.delivery import drain, send, serving
from tests.support.payloads import load_sample, load_shape, numbered_alert_event
from tests.support.slack_requests import (
    click,
    post_to_slack_endpoint,
    signed_headers,
    slash_command_body,
)
from tests.support.waiting import wait_for

STALE_AFTER = timedelta(hours=24)


def text_of(message) -> str:
    return message.text + json.dumps(message.blocks, ensure_ascii=False)


def action_ids(message) -> list[str]:
    return [e.get("action_id") for b in message.blocks if b.get("type") == "actions"
            for e in b.get("elements", [])]


def age_alerts(worker, by: timedelta) -> None:
    """As if ``by`` had passed since each alert's last event."""
    with worker.database.session() as session:
        for row in session.scalars(select(AlertRow)):
            row.last_event_at -= by


def sweep(worker) -> int:
    """The sweep the worker runs about once a minute, now."""
    return mark_stale_alerts(worker.database, utcnow(), STALE_AFTER)


def gone_quiet(server, worker, payload, silent_for: timedelta) -> None:
    """Deliver ``payload``'s alert, then let it go without news for ``silent_for``."""
    send(server, payload)
    drain(worker)
    age_alerts(worker, silent_for)
    assert sweep(worker) == 1
    drain(worker)


def alert_row(worker) -> AlertRow:
    with worker.database.session() as session:
        return session.scalars(select(AlertRow)).one()


@pytest.fixture
def stale_service(slack_config, fake_slack):
    with serving(slack_config.with_overrides(stale_after=STALE_AFTER)) as running:
        yield running


def test_an_alert_silent_for_stale_after_says_no_news_and_can_still_be_acknowledged(
        stale_service, fake_slack):
    server, worker = stale_service
    send(server, load_shape("agent_offline_trigger"))
    drain(worker)
    [parent] = fake_slack.top_level()
    age_alerts(worker, timedelta(hours=23))
    assert sweep(worker) == 0  # not yet
    drain(worker)
    assert parent.updates == 0 and alert_row(worker).stale_at is None

    age_alerts(worker, timedelta(hours=2))
    last_event = alert_row(worker).last_event_at
    # A delivery worker sweeps on its own: at its start, then about once a minute.
    restarted = DeliveryWorker(worker.config, worker.database)
    restarted.start(1)
    try:
        wait_for(lambda: parent.updates == 1, 20, "the stale parent refreshed")
    finally:
        restarted.stop()
    assert f"No news from ThousandEyes since <!date^{int(last_event.timestamp())}^" in text_of(parent)
    assert ACKNOWLEDGE in action_ids(parent)
    assert alert_row(worker).stale_at is not None

    assert sweep(worker) == 0  # marked once: no second refresh
    drain(worker)
    assert parent.updates == 1

    response = click(server.url, ACKNOWLEDGE, encode_alert_ref(alert_row(worker).id),
                     user_id="U0ALICE", user_name="alice", channel_id=parent.channel,
                     message_ts=parent.ts)
    assert response.status_code == 200
    drain(worker)
    assert "Acknowledged by" in text_of(parent) and "No news from ThousandEyes" in text_of(parent)


def test_a_late_clear_still_threads_and_ends_the_stale_state(stale_service, fake_slack):
    server, worker = stale_service
    gone_quiet(server, worker, load_shape("agent_offline_trigger"), timedelta(days=3))
    [parent] = fake_slack.top_level()
    assert "No news" in text_of(parent)

    send(server, load_shape("agent_offline_clear"))
    drain(worker)
    [reply] = fake_slack.thread(parent)
    assert "Cleared" in reply.text
    assert "No news" not in text_of(parent) and "Cleared" in parent.text
    row = alert_row(worker)
    assert row.stale_at is None and row.state == "cleared"


def test_a_retrigger_ends_the_stale_state(stale_service, fake_slack):
    server, worker = stale_service
    gone_quiet(server, worker, load_sample("trigger"), timedelta(days=2))
    again = load_sample("trigger")
    again["eventId"] = "49-35541-again"
    send(server, again)
    drain(worker)
    [parent] = fake_slack.top_level()
    assert "No news" not in text_of(parent) and alert_row(worker).stale_at is None


def test_the_refresh_is_due_at_once_so_it_never_holds_back_the_clear(stale_service, fake_slack):
    server, worker = stale_service
    send(server, load_sample("trigger"))
    drain(worker)
    age_alerts(worker, timedelta(days=2))
    now = utcnow()
    assert mark_stale_alerts(worker.database, now, STALE_AFTER) == 1
    with worker.database.session() as session:
        [refresh] = session.scalars(select(JobRow).where(
            JobRow.kind == JobKind.REFRESH_PARENT, JobRow.status == JobStatus.PENDING)).all()
        assert refresh.next_attempt_at <= now
    send(server, load_sample("clear"))
    drain(worker, timeout=5)
    [parent] = fake_slack.top_level()
    assert len(fake_slack.thread(parent)) == 1


def test_the_status_command_shows_each_open_alerts_age_and_silence(stale_service, fake_slack):
    server, worker = stale_service
    gone_quiet(server, worker, load_sample("trigger"), timedelta(hours=30))
    body = slash_command_body("status", channel_id="C0ALERTS")
    answer = post_to_slack_endpoint(server.url, body, signed_headers(body)).json()
    text = json.dumps(answer["blocks"], ensure_ascii=False)
    started = int(datetime(2014, 8, 24, 1, 1, 47, tzinfo=UTC).timestamp())
    assert "🔴 Triggered · open for " in text and f"(since <!date^{started}^" in text
    assert "⏳ no news from ThousandEyes for 1d 6h" in text


def test_without_stale_after_nothing_is_marked(slack_server, worker, fake_slack):
    send(slack_server, load_sample("trigger"))
    drain(worker)
    age_alerts(worker, timedelta(days=30))
    drain(worker)
    [parent] = fake_slack.top_level()
    assert parent.updates == 0 and alert_row(worker).stale_at is None


def test_the_sweep_marks_only_open_alerts_older_than_the_cutoff_in_batches(database):
    from bot.store.ingest import store_event
    from bot.thousandeyes import parse_event

    now = utcnow()
    for number in range(BATCH + 5):
        event = parse_event(numbered_alert_event("trigger", number, "sweep", f"test {number}"))
        store_event(database, event, route="default", channel="", body_text="{}",
                    now=now - timedelta(hours=25))
    fresh = parse_event(numbered_alert_event("trigger", 999, "sweep", "fresh"))
    store_event(database, fresh, route="default", channel="", body_text="{}", now=now)
    cleared = parse_event(numbered_alert_event("clear", 0, "sweep", "test 0"))
    store_event(database, cleared, route="default", channel="", body_text="{}",
                now=now - timedelta(hours=25))

    assert mark_stale_alerts(database, now, STALE_AFTER) == BATCH
    sweep = StaleSweep(database, STALE_AFTER)
    assert sweep.run_if_due(now) == 4  # the rest; the cleared and the fresh ones never
    assert sweep.run_if_due(now + timedelta(seconds=1)) == 0  # not due again yet
    with database.session() as session:
        stale = {row.alert_key for row in session.scalars(
            select(AlertRow).where(AlertRow.stale_at.is_not(None)))}
    assert "sweep-999" not in stale and "sweep-0" not in stale and len(stale) == BATCH + 4
