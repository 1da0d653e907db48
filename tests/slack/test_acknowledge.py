"""Acknowledge / Unacknowledge through signed Slack requests, end to end."""

from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import select

from bot.db.models import AcknowledgementRow, AlertRow, JobKind, JobRow, JobStatus
from bot.render.actions import ACKNOWLEDGE, UNACKNOWLEDGE, encode_alert_ref
from tests.support.delivery import drain, hold_lanes, release_lanes, send
from tests.support.payloads import recent_clear, recent_trigger
from tests.support.slack_requests import (
    block_action_body,
    click,
    post_to_slack_endpoint,
    signed_headers,
)
from tests.support.waiting import wait_for


def action_ids(message):
    return [e.get("action_id") for b in message.blocks if b.get("type") == "actions"
            for e in b.get("elements", [])]


def rendered(message):
    return message.text + json.dumps(message.blocks, ensure_ascii=False)


@pytest.fixture
def posted_alert(slack_server, worker, fake_slack):
    send(slack_server, recent_trigger())
    drain(worker)
    [parent] = fake_slack.top_level()
    with worker.database.session() as session:
        alert = session.scalars(select(AlertRow)).one()
    return parent, encode_alert_ref(alert.id)


def ack(server, ref, parent, user_id="U0ALICE", user_name="alice", action=ACKNOWLEDGE,
        channel_id=None):
    response = click(server.url, action, ref, user_id=user_id, user_name=user_name,
                     channel_id=channel_id or parent.channel, message_ts=parent.ts)
    assert response.status_code == 200, response.text
    return response


def acknowledgements(worker):
    with worker.database.session() as session:
        return list(session.scalars(select(AcknowledgementRow).order_by(AcknowledgementRow.id)))


def test_two_responders_then_clear(slack_server, worker, fake_slack, posted_alert):
    parent, ref = posted_alert
    ack(slack_server, ref, parent, "U0ALICE", "alice")
    wait_for(lambda: len(acknowledgements(worker)) == 1)
    drain(worker)
    assert "<@U0ALICE>" in rendered(parent)
    assert UNACKNOWLEDGE in action_ids(parent) and ACKNOWLEDGE in action_ids(parent)
    assert "acknowledged" in parent.text.lower()

    ack(slack_server, ref, parent, "U0BOB", "bob")
    wait_for(lambda: len(acknowledgements(worker)) == 2)
    drain(worker)
    assert "<@U0ALICE>" in rendered(parent) and "<@U0BOB>" in rendered(parent)

    send(slack_server, recent_clear())
    drain(worker)
    assert "cleared" in parent.text.lower()
    assert ACKNOWLEDGE not in action_ids(parent) and UNACKNOWLEDGE not in action_ids(parent)
    body = rendered(parent)
    assert "<@U0ALICE>" in body and "<@U0BOB>" in body
    assert "<@U0ALICE> (5m" in body and "time to acknowledge" not in body  # said once
    thread = fake_slack.thread(parent)
    assert len(thread) == 3  # alice's note, bob's note, the clear
    assert "alice" in rendered(thread[0]) and "bob" in rendered(thread[1])
    reply = rendered(thread[2])  # the clear reply says who acknowledged and how fast
    assert "alice (5m" in reply.lower() and "bob" in reply
    assert "Cleared after 5m" in reply
    methods = {c.method for c in fake_slack.calls}
    assert methods <= {"chat.postMessage", "chat.update", "auth.test"}
    assert fake_slack.calls_to("chat.postEphemeral") == []


def hold_thread_posts(worker, seconds=60.0):
    """Take the alert channel's next post slot for a minute, as a storm of posts would."""
    hold_lanes(worker, seconds)


def shows(message, *user_ids):
    return all(f"<@{user_id}>" in rendered(message) for user_id in user_ids)


def update_showing(fake_slack, parent, user_id):
    return next(c for c in fake_slack.calls_to("chat.update", ok_only=True)
                if c.args["ts"] == parent.ts and f"<@{user_id}>" in json.dumps(c.args))


def test_parent_shows_a_second_click_while_thread_notes_wait(slack_server, worker, fake_slack,
                                                             posted_alert):
    parent, ref = posted_alert
    hold_thread_posts(worker)
    worker.start(2)
    ack(slack_server, ref, parent, "U0ALICE", "alice")
    wait_for(lambda: shows(parent, "U0ALICE"))
    clicked = time.monotonic()
    ack(slack_server, ref, parent, "U0BOB", "bob")
    # Alice's note is still waiting for the channel; Bob's refresh does not wait for it.
    wait_for(lambda: shows(parent, "U0ALICE", "U0BOB"), timeout=10)
    assert update_showing(fake_slack, parent, "U0BOB").at - clicked < 5.0
    assert fake_slack.thread(parent) == []

    worker.stop()
    send(slack_server, recent_clear())
    release_lanes(worker)
    drain(worker)
    # The clear waited for the notes queued before it: the thread reads in order.
    thread = fake_slack.thread(parent)
    assert [("alice" in rendered(m), "bob" in rendered(m)) for m in thread[:2]] == [
        (True, False), (False, True)]
    assert len(thread) == 3 and "cleared" in thread[2].text.lower()
    assert "cleared" in parent.text.lower() and shows(parent, "U0ALICE", "U0BOB")


def test_quick_clicks_share_one_parent_update(slack_server, worker, fake_slack, posted_alert):
    parent, ref = posted_alert
    updates = parent.updates
    ack(slack_server, ref, parent, "U0ALICE", "alice")
    ack(slack_server, ref, parent, "U0BOB", "bob")
    wait_for(lambda: len(acknowledgements(worker)) == 2)
    with worker.database.session() as session:
        kinds = list(session.scalars(
            select(JobRow.kind).where(JobRow.status == JobStatus.PENDING).order_by(JobRow.id)))
    assert kinds == [JobKind.REFRESH_PARENT, JobKind.ACK_NOTE, JobKind.ACK_NOTE]
    drain(worker)
    assert parent.updates == updates + 1 and shows(parent, "U0ALICE", "U0BOB")
    assert len(fake_slack.thread(parent)) == 2


def test_repeated_clicks_record_once(slack_server, worker, fake_slack, posted_alert):
    parent, ref = posted_alert
    for _ in range(3):
        ack(slack_server, ref, parent)
    # Each 200 came after its click was recorded (the listener records, then answers).
    wait_for(lambda: len(acknowledgements(worker)) == 1)
    drain(worker)
    assert len(acknowledgements(worker)) == 1
    assert len(fake_slack.thread(parent)) == 1


def test_unacknowledge_removes_only_the_clicking_user(slack_server, worker, fake_slack, posted_alert):
    parent, ref = posted_alert
    ack(slack_server, ref, parent, "U0ALICE", "alice")
    ack(slack_server, ref, parent, "U0BOB", "bob")
    wait_for(lambda: len(acknowledgements(worker)) == 2)
    ack(slack_server, ref, parent, "U0ALICE", "alice", action=UNACKNOWLEDGE)
    wait_for(lambda: any(a.withdrawn_at for a in acknowledgements(worker)))
    drain(worker)
    body = rendered(parent)
    assert "<@U0BOB>" in body and "<@U0ALICE>" not in body
    history = acknowledgements(worker)
    assert [(a.user_id, a.withdrawn_at is not None) for a in history] == [
        ("U0ALICE", True), ("U0BOB", False)]  # history is kept

    ack(slack_server, ref, parent, "U0BOB", "bob", action=UNACKNOWLEDGE)
    wait_for(lambda: all(a.withdrawn_at for a in acknowledgements(worker)))
    drain(worker)
    assert "triggered" in parent.text.lower()
    assert UNACKNOWLEDGE not in action_ids(parent)


def test_unacknowledge_without_acknowledging_answers_ephemerally(slack_server, worker, fake_slack,
                                                                 posted_alert):
    parent, ref = posted_alert
    ack(slack_server, ref, parent, action=UNACKNOWLEDGE)
    wait_for(lambda: len(fake_slack.calls_to("chat.postEphemeral")) == 1)
    assert "had not acknowledged" in fake_slack.calls_to("chat.postEphemeral")[0].args["text"]


def test_forged_and_stale_signatures_are_refused(slack_server, worker, fake_slack, posted_alert):
    parent, ref = posted_alert
    body = block_action_body(ACKNOWLEDGE, ref, user_id="U0EVE", user_name="eve",
                             channel_id=parent.channel, message_ts=parent.ts)
    forged = post_to_slack_endpoint(slack_server.url, body, signed_headers(body, secret="wrong"))
    stale = post_to_slack_endpoint(slack_server.url, body,
                                   signed_headers(body, timestamp=int(time.time()) - 3600))
    unsigned = post_to_slack_endpoint(slack_server.url, body,
                                      {"Content-Type": "application/x-www-form-urlencoded"})
    # Bolt refuses a bad signature before any listener runs: nothing can be recorded later.
    assert (forged.status_code, stale.status_code, unsigned.status_code) == (401, 401, 401)
    assert acknowledgements(worker) == []
    drain(worker)
    assert parent.updates == 0


def test_click_on_cleared_alert_changes_nothing(slack_server, worker, fake_slack, posted_alert):
    parent, ref = posted_alert
    send(slack_server, recent_clear())
    drain(worker)
    updates = parent.updates
    ack(slack_server, ref, parent)
    wait_for(lambda: len(fake_slack.calls_to("chat.postEphemeral")) == 1)
    call = fake_slack.calls_to("chat.postEphemeral")[0]
    assert "already cleared" in call.args["text"] and call.args["user"] == "U0ALICE"
    drain(worker)
    assert acknowledgements(worker) == [] and parent.updates == updates


def test_click_carrying_another_channels_alert(slack_server, worker, fake_slack, posted_alert):
    parent, ref = posted_alert
    ack(slack_server, ref, parent, channel_id="C0OTHER")
    wait_for(lambda: len(fake_slack.calls_to("chat.postEphemeral")) == 1)
    assert "not known in this channel" in fake_slack.calls_to("chat.postEphemeral")[0].args["text"]
    ack(slack_server, encode_alert_ref(999999), parent)
    wait_for(lambda: len(fake_slack.calls_to("chat.postEphemeral")) == 2)
    assert acknowledgements(worker) == []


def test_acknowledge_racing_clear_ends_cleared(slack_server, worker, fake_slack, posted_alert):
    parent, ref = posted_alert
    barrier = threading.Barrier(2)

    def click_ack():
        barrier.wait()
        ack(slack_server, ref, parent)

    thread = threading.Thread(target=click_ack)
    thread.start()
    barrier.wait()
    send(slack_server, recent_clear())
    thread.join()
    # The click was recorded before Bolt answered; a refusal is told just after the answer.
    wait_for(lambda: acknowledgements(worker) or fake_slack.calls_to("chat.postEphemeral"),
             message="the click recorded, or its refusal told")
    drain(worker)
    assert "cleared" in parent.text.lower()
    assert ACKNOWLEDGE not in action_ids(parent)
    if acknowledgements(worker):  # the click won the race: the responder is listed
        assert "<@U0ALICE>" in rendered(parent)
    else:  # the clear won: the user was told
        assert len(fake_slack.calls_to("chat.postEphemeral")) == 1


def test_slash_command_status_and_help(slack_server, worker, fake_slack, posted_alert):
    from tests.support.slack_requests import slash_command_body

    parent, ref = posted_alert
    ack(slack_server, ref, parent, "U0ALICE", "alice")
    wait_for(lambda: len(acknowledgements(worker)) == 1)
    body = slash_command_body("status", channel_id="C0ALERTS")
    response = post_to_slack_endpoint(slack_server.url, body, signed_headers(body))
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_type"] == "ephemeral"
    text = json.dumps(answer["blocks"])
    assert "Default Page Load Alert Rule" in text and "alice" in text and "Acknowledged" in text

    body = slash_command_body("status", channel_id="C0OTHER")
    answer = post_to_slack_endpoint(slack_server.url, body, signed_headers(body)).json()
    assert "No open ThousandEyes alerts" in answer["text"]

    body = slash_command_body("help", channel_id="C0ALERTS")
    answer = post_to_slack_endpoint(slack_server.url, body, signed_headers(body)).json()
    assert "/thousandeyes status" in answer["text"]


def test_slack_endpoint_without_configuration_says_so(live_server):
    import requests

    response = requests.post(live_server.url + "/slack/events", data="payload=%7B%7D", timeout=10)
    assert response.status_code == 503
    assert "SLACK_SIGNING_SECRET" in response.json()["message"]
