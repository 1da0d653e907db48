"""Storm roll-ups beside flapping and snooze: an alert that replies in an earlier alert's
thread never counts towards a storm, and a roll-up is never taken over by one alert."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.db.models import AlertRow, JobKind, JobRow, JobStatus
from bot.render import RenderedMessage
from bot.render.actions import ACKNOWLEDGE, ACKNOWLEDGE_ALL, SNOOZE, encode_snooze_choice
from tests.render.helpers import assert_valid_message
from tests.support.delivery import alert_messages, drain, drain_due, make_due, send, serving
from tests.support.payloads import numbered_alert_event, recent_trigger, with_changes
from tests.support.slack_requests import choose, click

TAG = "adopt"


def body(message):
    return message.text + json.dumps(message.blocks, ensure_ascii=False)


def action_ids(message):
    return [e.get("action_id") for b in message.blocks if b.get("type") == "actions"
            for e in b["elements"]]


@pytest.fixture
def config(slack_config):
    return slack_config.with_overrides(storm_rollup=True, storm_threshold=5,
                                       flap_window=timedelta(minutes=10))


def reminders_pending(worker):
    with worker.database.session() as session:
        return list(session.scalars(select(JobRow).where(
            JobRow.kind == JobKind.REMINDER, JobRow.status == JobStatus.PENDING)))


def new_alert(number):
    """The sample's rule on the sample's test, as a new alert (its own alertId)."""
    return with_changes(recent_trigger(), event_id=f"{TAG}-new-{number}", alertId=70000 + number)


def test_alerts_snoozed_into_a_thread_do_not_start_a_storm(config, fake_slack):
    with serving(config) as (server, worker):
        send(server, new_alert(0))
        drain(worker)
        [parent] = fake_slack.top_level("C0ALERTS")
        with worker.database.session() as session:
            first = session.scalars(select(AlertRow)).one()
        response = choose(server.url, SNOOZE, encode_snooze_choice(first.id, 4),
                          user_id="U0ALICE", user_name="alice",
                          channel_id=parent.channel, message_ts=parent.ts)
        assert response.status_code == 200, response.text
        drain(worker)

        for number in range(1, 9):  # more than STORM_THRESHOLD, all at once
            send(server, new_alert(number))
        drain(worker)

        # Still the one parent: no roll-up; each new alert replied quietly in its thread.
        assert alert_messages(fake_slack, "C0ALERTS") == [parent]
        replies = fake_slack.thread(parent)
        assert len(replies) == 8
        assert not any(reply.reply_broadcast for reply in replies)
        assert ACKNOWLEDGE_ALL not in action_ids(parent)


def test_a_flap_of_an_alert_listed_in_a_rollup_posts_its_own_parent(config, fake_slack):
    with serving(config) as (server, worker):
        for number in range(8):
            send(server, numbered_alert_event("trigger", number, TAG, f"adopt-test-{number}"))
        drain(worker)
        [rollup] = fake_slack.top_level("C0ALERTS")
        assert "8 alerts" in body(rollup)
        for number in range(8):
            send(server, numbered_alert_event("clear", number, TAG, f"adopt-test-{number}"))
        drain(worker)
        listed = body(rollup)

        # The same rule on the same test again, a new alertId, soon after the clears: its
        # earlier alert's parent is the roll-up, which stands for eight alerts.
        send(server, new_alert(1))
        drain(worker)
        rollup_now, parent = fake_slack.top_level("C0ALERTS")
        assert rollup_now.ts == rollup.ts
        assert body(rollup_now) == listed  # the roll-up was not re-rendered as one alert
        assert ACKNOWLEDGE in action_ids(parent)
        with worker.database.session() as session:
            newest = session.scalars(select(AlertRow).order_by(AlertRow.id.desc())).first()
        assert (newest.slack_ts, newest.storm_id) == (parent.ts, None)


def test_a_storm_gets_one_reminder_for_its_unacknowledged_alerts(config, fake_slack):
    # Eight alerts' reminders in the roll-up's thread would be eight mentions: the storm
    # gets one, counting the alerts nobody acknowledges, and none once they all are.
    reminding = config.with_overrides(reminder_after=timedelta(minutes=15), reminder_repeat=2)
    with serving(reminding) as (server, worker):
        for number in range(8):
            send(server, numbered_alert_event("trigger", number, TAG, f"adopt-test-{number}"))
        drain_due(worker)
        [rollup] = fake_slack.top_level("C0ALERTS")
        with worker.database.session() as session:
            first_round = list(session.scalars(
                select(JobRow).where(JobRow.kind == JobKind.REMINDER,
                                     JobRow.data["number"].as_integer() == 1)))
        assert len(first_round) == 8
        for job in first_round:
            make_due(worker, job)
        drain_due(worker)
        [reminder] = fake_slack.thread(rollup)
        assert "8 alerts" in body(reminder) and "not acknowledged" in reminder.text.lower()
        assert_valid_message(RenderedMessage(reminder.text, reminder.blocks))

        storm_ref = next(e["value"] for b in rollup.blocks if b.get("type") == "actions"
                         for e in b["elements"] if e.get("action_id") == ACKNOWLEDGE_ALL)
        response = click(server.url, ACKNOWLEDGE_ALL, storm_ref, user_id="U0ALICE",
                         user_name="alice", channel_id=rollup.channel, message_ts=rollup.ts)
        assert response.status_code == 200
        drain_due(worker)
        for job in reminders_pending(worker):
            make_due(worker, job)
        drain_due(worker)
        texts = [m.text.lower() for m in fake_slack.thread(rollup)]
        assert sum("not acknowledged" in t for t in texts) == 1
