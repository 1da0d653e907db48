"""Custom webhooks (ThousandEyes' Handlebars bodies) thread and acknowledge like classic ones."""

from __future__ import annotations

import json

import requests
from sqlalchemy import select

from bot.db.models import AcknowledgementRow, AlertRow
from bot.render.actions import ACKNOWLEDGE, encode_alert_ref
from tests.support.delivery import TOKEN_HEADER, drain, send
from tests.support.payloads import load_custom
from tests.support.slack_requests import click
from tests.support.waiting import wait_for


def acknowledged(worker) -> bool:
    with worker.database.session() as session:
        return session.scalars(select(AcknowledgementRow)).first() is not None


def test_generic_preset_trigger_and_clear_make_one_thread(slack_server, worker, fake_slack):
    assert send(slack_server, load_custom("generic_trigger")).json()["status"] == "accepted"
    drain(worker)
    [parent] = fake_slack.top_level("C0ALERTS")
    assert ACKNOWLEDGE in json.dumps(parent.blocks)
    with worker.database.session() as session:
        alert = session.scalars(select(AlertRow)).one()
    response = click(slack_server.url, ACKNOWLEDGE, encode_alert_ref(alert.id), user_id="U0ALICE",
                     user_name="alice", channel_id=parent.channel, message_ts=parent.ts)
    assert response.status_code == 200
    wait_for(lambda: acknowledged(worker), 5, "alice's click recorded")
    assert send(slack_server, load_custom("generic_clear")).json()["status"] == "accepted"
    drain(worker)
    thread = fake_slack.thread(parent)
    assert len(thread) == 2  # alice's note, then the clear
    assert "cleared" in parent.text.lower()
    assert "<@U0ALICE>" in json.dumps(parent.blocks)
    # ThousandEyes retries the same notification: a duplicate, nothing posted.
    assert send(slack_server, load_custom("generic_clear")).json()["status"] == "duplicate"


def test_our_template_trigger_and_clear(slack_server, worker, fake_slack):
    send(slack_server, load_custom("template_trigger"))
    send(slack_server, load_custom("template_clear"))
    drain(worker)
    [parent] = fake_slack.top_level()
    [reply] = fake_slack.thread(parent)
    assert "cleared" in parent.text.lower()
    assert "View in ThousandEyes" in json.dumps(parent.blocks)


def test_malformed_custom_payloads_get_clear_400s(slack_server, worker, fake_slack):
    cases = load_custom("malformed")["cases"]
    assert cases
    for case in cases:
        response = requests.post(slack_server.url + "/webhooks/thousandeyes", timeout=10,
                                 data=json.dumps(case["body"]), headers=TOKEN_HEADER)
        assert response.status_code == 400, case
        assert case["message"] in response.json()["message"], case
    drain(worker)
    assert fake_slack.calls_to("chat.postMessage") == []


def test_a_chat_preset_body_gets_a_one_line_400_naming_the_generic_preset(
        slack_server, worker, fake_slack):
    for case in load_custom("presets")["cases"]:
        response = requests.post(slack_server.url + "/webhooks/thousandeyes", timeout=10,
                                 data=json.dumps(case["body"]), headers=TOKEN_HEADER)
        assert response.status_code == 400, case
        assert response.json()["error"] == "bad_request"
        message = response.json()["message"]
        assert "\n" not in message and "Generic preset" in message, message
    drain(worker)
    assert fake_slack.calls_to("chat.postMessage") == []
