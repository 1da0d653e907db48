"""REMINDER_AFTER: an alert nobody acknowledged gets a reply in its thread, as a due job.

Time is moved by hand: a reminder is an outbox job due REMINDER_AFTER from its trigger,
and a test makes it due now (as the clock reaching it would) instead of sleeping.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select

from bot.clock import utcnow
from bot.db.models import AlertRow, JobKind, JobRow, JobStatus
from bot.delivery.runner import DeliveryWorker
from bot.process.app import create_app
from bot.render import RenderedMessage
from bot.render.actions import encode_alert_ref
from bot.store.routes import RouteOptions, create_route
from bot.web.services import services
from tests.render.helpers import assert_valid_message
from tests.slack.test_acknowledge import ack
from tests.support.delivery import alert_messages, drain_due, make_due, send
from tests.support.payloads import recent_clear, recent_trigger
from tests.support.servers import LiveServer

AFTER = timedelta(minutes=15)


@pytest.fixture
def slack_config(slack_config):
    return replace(slack_config, reminder_after=AFTER, reminder_repeat=2)


def reminders(worker, status=None):
    with worker.database.session() as session:
        query = select(JobRow).where(JobRow.kind == JobKind.REMINDER).order_by(JobRow.id)
        if status is not None:
            query = query.where(JobRow.status == status)
        return list(session.scalars(query))


def replies(fake_slack, parent):
    return [m for m in fake_slack.thread(parent) if m.ts != parent.ts]


def test_reminders_are_due_jobs_posted_in_the_thread_each_after_the_previous(
        slack_server, worker, fake_slack):
    sent_at = utcnow()
    send(slack_server, recent_trigger())
    drain_due(worker)
    [parent] = fake_slack.top_level()
    assert replies(fake_slack, parent) == []  # nothing before REMINDER_AFTER
    first, second = reminders(worker, JobStatus.PENDING)
    assert sent_at + AFTER <= first.next_attempt_at <= utcnow() + AFTER
    assert first.next_attempt_at + AFTER == second.next_attempt_at

    make_due(worker, first)
    drain_due(worker)
    [reminder] = replies(fake_slack, parent)
    assert "not acknowledged" in reminder.text.lower() and "15m" in reminder.text
    assert not reminder.reply_broadcast
    assert_valid_message(RenderedMessage(reminder.text, reminder.blocks))
    assert len(fake_slack.top_level()) == 1

    make_due(worker, second)
    drain_due(worker)
    assert len(replies(fake_slack, parent)) == 2  # REMINDER_REPEAT=2, and no more
    assert reminders(worker, JobStatus.PENDING) == []


def test_acknowledgement_cancels_reminders_even_when_due(slack_server, worker, fake_slack):
    send(slack_server, recent_trigger())
    drain_due(worker)
    [parent] = fake_slack.top_level()
    with worker.database.session() as session:
        ref = encode_alert_ref(session.scalars(select(AlertRow)).one().id)
    first, _second = reminders(worker)
    make_due(worker, first)  # due, but the acknowledgement comes first
    ack(slack_server, ref, parent)
    drain_due(worker)
    for job in reminders(worker):
        make_due(worker, job)
    drain_due(worker)
    texts = [m.text.lower() for m in replies(fake_slack, parent)]
    assert len(texts) == 1 and "acknowledged" in texts[0]  # the ack note only
    assert not any("not acknowledged" in t for t in texts)
    assert reminders(worker, JobStatus.PENDING) == []


def test_clear_cancels_reminders_and_is_not_held_back_by_them(slack_server, worker, fake_slack):
    send(slack_server, recent_trigger())
    drain_due(worker)
    send(slack_server, recent_clear())
    drain_due(worker)  # the clear runs now: a reminder due later does not hold it
    [parent] = fake_slack.top_level()
    assert len(replies(fake_slack, parent)) == 1 and "clear" in parent.text.lower()
    for job in reminders(worker):
        make_due(worker, job)
    drain_due(worker)
    assert len(replies(fake_slack, parent)) == 1  # the clear reply only


@contextmanager
def own_worker(config):
    """An app of its own for ``config`` (a process started anew) and its worker."""
    app = create_app(config)
    worker = DeliveryWorker(services(app).config, services(app).database,
                            backoff=lambda attempts: 0.05)
    try:
        yield app, worker
    finally:
        worker.stop()
        services(app).database.dispose()


def webhook_then_first_reminder(config, fake_slack):
    """Send a trigger to a service of its own, then deliver it and its first reminder
    from another one started anew (only the database remains between them)."""
    with own_worker(config) as (app, _worker), LiveServer(app) as server:
        send(server, recent_trigger())
    with own_worker(config) as (_app, worker):
        drain_due(worker)
        first, _ = reminders(worker, JobStatus.PENDING)
        make_due(worker, first)
        drain_due(worker)
    [parent] = fake_slack.top_level()
    return replies(fake_slack, parent)


def test_a_reminder_survives_a_restart(slack_config, fake_slack):
    assert len(webhook_then_first_reminder(slack_config, fake_slack)) == 1


def test_reminders_queue_alike_without_group_commit(slack_config, fake_slack):
    config = replace(slack_config, webhook_group_commit=False)
    assert len(webhook_then_first_reminder(config, fake_slack)) == 1


def test_reminder_mentions_the_routes_group(slack_config, slack_app, slack_server, worker,
                                           fake_slack):
    route, token = create_route(services(slack_app).database, team_id=None,
                                channel_id="C0ALERTS", created_by="U0ADMIN",
                                options=RouteOptions(mention="subteam:S0ONCALL"), now=utcnow())
    response = requests.post(f"{slack_server.url}/webhooks/thousandeyes/{route.id}",
                             data=json.dumps(recent_trigger()),
                             headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200, response.text
    drain_due(worker)
    [parent] = alert_messages(fake_slack)
    first, _ = reminders(worker)
    make_due(worker, first)
    drain_due(worker)
    [reminder] = replies(fake_slack, parent)
    assert "<!subteam^S0ONCALL>" in reminder.text + json.dumps(reminder.blocks)


def test_reminders_are_off_by_default(slack_config, fake_slack):
    with own_worker(replace(slack_config, reminder_after=None)) as (app, worker):
        with LiveServer(app) as server:
            send(server, recent_trigger())
        drain_due(worker)
        assert reminders(worker) == []
