"""Snooze from the parent's overflow menu: new alerts of that rule on that test thread
under the last parent quietly until it ends; `/thousandeyes snooze list | cancel`.

A snooze's end is reached by hand: a test moves its ``until`` into the past in the
database (as the clock passing would) instead of sleeping.
"""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select, update

from bot.clock import utcnow
from bot.db.models import AlertRow, SnoozeRow
from bot.render import RenderedMessage
from bot.render.actions import SNOOZE, encode_alert_ref, encode_snooze_choice
from tests.render.helpers import assert_valid_message
from tests.support.delivery import alert_messages, drain, send
from tests.support.payloads import recent_trigger, with_changes
from tests.support.slack_requests import (
    choose,
    post_to_slack_endpoint,
    signed_headers,
    slash_command_body,
)


def overflow_values(message):
    return [o["value"] for b in message.blocks if b.get("type") == "actions"
            for e in b.get("elements", []) if e.get("type") == "overflow"
            for o in e["options"]]


def new_alert(number, test_id=None):
    other_test = {} if test_id is None else {"testId": test_id}
    return with_changes(recent_trigger(), event_id=f"snooze-{number}", alertId=90000 + number,
                        **other_test)


def command(server, text, channel_id="C0ALERTS"):
    body = slash_command_body(f"snooze {text}".strip(), channel_id=channel_id)
    response = post_to_slack_endpoint(server.url, body, signed_headers(body))
    assert response.status_code == 200
    return response.json()


def snoozed_parent(server, worker, fake_slack, hours=4):
    send(server, new_alert(0))
    drain(worker)
    [parent] = fake_slack.top_level()
    with worker.database.session() as session:
        alert = session.scalars(select(AlertRow)).one()
    choice = encode_snooze_choice(alert.id, hours)
    assert choice in overflow_values(parent)
    response = choose(server.url, SNOOZE, choice, user_id="U0ALICE", user_name="alice",
                      channel_id=parent.channel, message_ts=parent.ts)
    assert response.status_code == 200, response.text
    drain(worker)
    return parent


def test_the_parent_offers_snooze_and_shows_it(slack_server, worker, fake_slack):
    parent = snoozed_parent(slack_server, worker, fake_slack)
    with worker.database.session() as session:
        ref = encode_alert_ref(session.scalars(select(AlertRow)).one().id)
    assert overflow_values(parent) == [f"{ref}|1h", f"{ref}|4h", f"{ref}|24h"]
    shown = parent.text + json.dumps(parent.blocks)
    assert "Snoozed until" in shown and "alice" in shown
    assert_valid_message(RenderedMessage(parent.text, parent.blocks))


def test_new_alerts_during_a_snooze_thread_quietly_under_the_last_parent(
        slack_server, worker, fake_slack):
    parent = snoozed_parent(slack_server, worker, fake_slack)
    send(slack_server, new_alert(1))
    drain(worker)
    assert alert_messages(fake_slack) == [parent]
    [reply] = fake_slack.thread(parent)
    assert "snoozed until" in reply.text.lower() and not reply.reply_broadcast
    assert "<!" not in reply.text.replace("<!date", "")  # no mention
    assert_valid_message(RenderedMessage(reply.text, reply.blocks))
    # Another test of the same rule is not snoozed.
    send(slack_server, new_alert(2, test_id=777))
    drain(worker)
    assert len(alert_messages(fake_slack)) == 2


def test_when_the_snooze_ends_new_alerts_get_their_own_parent(slack_server, worker, fake_slack):
    snoozed_parent(slack_server, worker, fake_slack, hours=1)
    with worker.database.session() as session:
        session.execute(update(SnoozeRow).values(until=utcnow() - timedelta(seconds=1)))
    send(slack_server, new_alert(1))
    drain(worker)
    assert len(alert_messages(fake_slack)) == 2


def test_snooze_list_and_cancel(slack_server, worker, fake_slack):
    snoozed_parent(slack_server, worker, fake_slack, hours=24)
    listing = command(slack_server, "list")
    assert listing["response_type"] == "ephemeral"
    text = listing["text"] + json.dumps(listing.get("blocks"))
    assert "Default Page Load Alert Rule" in text and "alice" in text
    with worker.database.session() as session:
        snooze_id = session.scalars(select(SnoozeRow)).one().id
    assert str(snooze_id) in text
    assert "No snoozes" in command(slack_server, "list", channel_id="C0OTHER")["text"]
    assert "No snooze" in command(slack_server, f"cancel {snooze_id}", channel_id="C0OTHER")["text"]
    assert "Cancelled" in command(slack_server, f"cancel {snooze_id}")["text"]
    assert "No snoozes" in command(slack_server, "list")["text"]
    send(slack_server, new_alert(1))
    drain(worker)
    assert len(alert_messages(fake_slack)) == 2


def test_a_snooze_choice_round_trips_and_refuses_what_was_not_offered():
    from bot.render.actions import decode_snooze_choice

    assert decode_snooze_choice(encode_snooze_choice(12, 24)) == (12, 24)
    for forged in ("alert:12|2h", "alert:12", "alert:x|1h", "12|1h", "alert:12|1h|4h"):
        try:
            decode_snooze_choice(forged)
        except ValueError:
            continue
        raise AssertionError(f"{forged!r} was accepted")


def test_a_snooze_from_another_channel_changes_nothing(slack_server, worker, fake_slack):
    send(slack_server, new_alert(0))
    drain(worker)
    [parent] = fake_slack.top_level()
    with worker.database.session() as session:
        alert = session.scalars(select(AlertRow)).one()
    response = choose(slack_server.url, SNOOZE, encode_snooze_choice(alert.id, 1),
                      user_id="U0MALLORY", user_name="mallory", channel_id="C0OTHER",
                      message_ts=parent.ts)
    assert response.status_code == 200
    with worker.database.session() as session:
        assert session.scalars(select(SnoozeRow)).all() == []


def test_without_the_api_link_a_snooze_says_nothing_of_thousandeyes(
        slack_server, worker, fake_slack):
    parent = snoozed_parent(slack_server, worker, fake_slack)
    said = [m for m in fake_slack.top_level() if m.ts != parent.ts]
    assert said and all("ThousandEyes said" not in m.text and "in Slack and in" not in m.text
                        for m in said + [parent])
    with worker.database.session() as session:
        snooze = session.scalars(select(SnoozeRow)).one()
    assert snooze.te_state is None and snooze.te_window_id is None
