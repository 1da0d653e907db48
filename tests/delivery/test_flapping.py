"""FLAP_WINDOW: a new alertId for a rule and test soon after its clear threads under the
previous parent ("triggered again") instead of posting a new one.

The window is moved by hand: a test ages the previous clear in the database (as the
clock passing would) instead of sleeping.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.clock import utcnow
from bot.db.models import AlertRow
from bot.render import RenderedMessage
from bot.render.actions import ACKNOWLEDGE, encode_alert_ref
from tests.render.helpers import assert_valid_message
from tests.slack.test_acknowledge import ack, action_ids
from tests.support.delivery import drain, send, serving
from tests.support.payloads import recent_clear, recent_trigger, with_changes

WINDOW = timedelta(minutes=10)


@pytest.fixture
def slack_config(slack_config):
    return replace(slack_config, flap_window=WINDOW)


def next_alert(payload, number, test_id=None):
    """The same rule on the same test, as a new alert (a new alertId) ThousandEyes sends."""
    other_test = {} if test_id is None else {
        "testId": test_id, "testName": f"http://other-{test_id}.example"}
    return with_changes(payload, event_id=f"{payload['eventId']}-again-{number}",
                        alertId=35541 + number, **other_test)


def alerts(worker):
    with worker.database.session() as session:
        return list(session.scalars(select(AlertRow).order_by(AlertRow.id)))


def button_values(message):
    return [e.get("value") for b in message.blocks if b.get("type") == "actions"
            for e in b.get("elements", []) if e.get("action_id") == ACKNOWLEDGE]


def flap(server, worker):
    """An alert that triggers and clears, then triggers again as a new alertId."""
    send(server, recent_trigger())
    send(server, recent_clear())
    drain(worker)
    send(server, next_alert(recent_trigger(), 1))


def test_a_new_alert_soon_after_the_clear_threads_under_the_previous_parent(
        slack_server, worker, fake_slack):
    flap(slack_server, worker)
    drain(worker)
    [parent] = fake_slack.top_level()  # no new parent in the channel
    first, second = alerts(worker)
    thread = fake_slack.thread(parent)
    assert len(thread) == 2 and "clear" in thread[0].text.lower()
    note = thread[1]
    assert "triggered again" in note.text.lower() and not note.reply_broadcast
    assert_valid_message(RenderedMessage(note.text, note.blocks))
    # The parent is the new alert's now: open, with Acknowledge for it (not the old one).
    assert "triggered again" in (parent.text + json.dumps(parent.blocks)).lower()
    assert button_values(parent) == [encode_alert_ref(second.id)]
    assert (second.slack_channel, second.slack_ts) == (parent.channel, parent.ts)

    ack(slack_server, encode_alert_ref(second.id), parent)
    drain(worker)
    assert "<@U0ALICE>" in json.dumps(parent.blocks)
    send(slack_server, next_alert(recent_clear(), 1))
    drain(worker)
    assert len(fake_slack.top_level()) == 1
    assert len(fake_slack.thread(parent)) == 4  # clear, triggered again, ack note, clear
    assert ACKNOWLEDGE not in action_ids(parent) and "cleared" in parent.text.lower()


def test_the_adopted_trigger_waits_for_the_previous_parent(slack_server, worker, fake_slack):
    # All three events arrive before anything is delivered: the new alert's trigger
    # must wait for the parent it threads under to be posted (and cleared).
    send(slack_server, recent_trigger())
    send(slack_server, recent_clear())
    send(slack_server, next_alert(recent_trigger(), 1))
    drain(worker)
    [parent] = fake_slack.top_level()
    assert [m.text.lower().count("triggered again") > 0 for m in fake_slack.thread(parent)] \
        == [False, True]
    assert button_values(parent) == [encode_alert_ref(alerts(worker)[1].id)]


def test_outside_the_window_a_new_alert_gets_its_own_parent(slack_server, worker, fake_slack):
    send(slack_server, recent_trigger())
    send(slack_server, recent_clear())
    drain(worker)
    with worker.database.session() as session:  # the clear arrived eleven minutes ago
        session.execute(update(AlertRow).values(last_event_at=utcnow() - WINDOW - timedelta(minutes=1)))
    send(slack_server, next_alert(recent_trigger(), 1))
    drain(worker)
    assert len(fake_slack.top_level()) == 2


def test_another_test_or_an_open_previous_alert_gets_its_own_parent(slack_server, worker,
                                                                   fake_slack):
    send(slack_server, recent_trigger())
    drain(worker)
    send(slack_server, next_alert(recent_trigger(), 1))  # the first is still open
    send(slack_server, recent_clear())
    drain(worker)
    send(slack_server, next_alert(recent_trigger(), 2, test_id=999))  # same rule, other test
    drain(worker)
    assert len(fake_slack.top_level()) == 3


def test_flap_window_off_posts_a_new_parent(slack_config, fake_slack):
    with serving(replace(slack_config, flap_window=None)) as (server, worker):
        flap(server, worker)
        drain(worker)
    assert len(fake_slack.top_level()) == 2


def test_the_adopted_trigger_waits_while_the_previous_parent_is_retried(
        slack_server, worker, fake_slack):
    fake_slack.fail("chat.postMessage", status=503)  # the first post fails: retried later
    send(slack_server, recent_trigger())
    send(slack_server, recent_clear())
    send(slack_server, next_alert(recent_trigger(), 1))
    drain(worker)
    [parent] = fake_slack.top_level()
    assert button_values(parent) == [encode_alert_ref(alerts(worker)[1].id)]
    assert len(fake_slack.thread(parent)) == 2
