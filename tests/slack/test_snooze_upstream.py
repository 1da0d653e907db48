"""A snooze from Slack, sent upstream: with THOUSANDEYES_API_TOKEN set, snoozing a test's
rule also creates a ThousandEyes alert suppression window for that test, for as long, and
cancelling the snooze deletes it. The parent and the announcement say which happened.

ThousandEyes is the fake API v7 on loopback (tests/support/fake_thousandeyes.py); the
calls are made by the delivery worker (an outbox job), never while Slack waits.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.clock import utcnow
from bot.config import Config
from bot.db.models import AlertRow, SnoozeRow
from bot.render import RenderedMessage
from bot.render.actions import SNOOZE, encode_snooze_choice
from tests.render.helpers import assert_valid_message
from tests.slack.test_snooze import command, new_alert
from tests.support.delivery import drain, send
from tests.support.fake_thousandeyes import TOKEN, Operation
from tests.support.payloads import load_custom
from tests.support.slack_requests import choose


@pytest.fixture
def slack_config(slack_config: Config, fake_thousandeyes) -> Config:
    """The suite's Slack configuration, linked to the fake ThousandEyes API."""
    return Config(**{**slack_config.__dict__, "thousandeyes_api_token": TOKEN,
                     "thousandeyes_api_url": fake_thousandeyes.url})


@pytest.fixture
def te_test(fake_thousandeyes):
    return fake_thousandeyes.account.add_test("www.thousandeyes.com page load", "page-load")


def click_snooze(server, worker, fake_slack, test_id, hours=4):
    """Post an alert of ``test_id``, deliver it, and choose "Snooze ``hours`` h" on it."""
    send(server, new_alert(0, test_id=test_id))
    drain(worker)
    [parent] = fake_slack.top_level()
    with worker.database.session() as session:
        alert = session.scalars(select(AlertRow)).one()
    response = choose(server.url, SNOOZE, encode_snooze_choice(alert.id, hours),
                      user_id="U0ALICE", user_name="alice", channel_id=parent.channel,
                      message_ts=parent.ts)
    assert response.status_code == 200, response.text
    return parent


def current(fake_slack, parent):
    """The parent as the channel shows it now (after its updates)."""
    [now] = [m for m in fake_slack.top_level() if m.ts == parent.ts]
    return now


def shown(message) -> str:
    return message.text + json.dumps(message.blocks, ensure_ascii=False)


def announcements(fake_slack) -> list:
    return [m for m in fake_slack.top_level() if "te_announcement" in json.dumps(m.blocks)]


def the_snooze(worker) -> SnoozeRow:
    with worker.database.session() as session:
        return session.scalars(select(SnoozeRow)).one()


def test_a_snooze_creates_a_suppression_window_for_the_test_for_as_long(
        slack_server, worker, fake_slack, fake_thousandeyes, te_test):
    parent = click_snooze(slack_server, worker, fake_slack, te_test.test_id, hours=4)
    # The click was answered before anyone asked ThousandEyes: the outbox does that.
    assert fake_thousandeyes.calls_to(Operation.CREATE_WINDOW) == []
    drain(worker)
    [call] = fake_thousandeyes.calls_to(Operation.CREATE_WINDOW)
    assert call.token == TOKEN and call.body["testIds"] == [te_test.test_id]
    assert 4 * 3600 - 60 < call.body["duration"] <= 4 * 3600  # from now to the snooze's end
    [window] = fake_thousandeyes.account.windows.values()
    assert abs(window.start - utcnow()) < timedelta(minutes=1)
    assert the_snooze(worker).te_window_id == window.window_id
    parent = current(fake_slack, parent)
    assert "snoozed in Slack and in ThousandEyes" in shown(parent)
    assert_valid_message(RenderedMessage(parent.text, parent.blocks))
    [said] = announcements(fake_slack)
    assert "snoozed in Slack and in ThousandEyes" in said.text


def test_cancelling_the_snooze_deletes_its_window(
        slack_server, worker, fake_slack, fake_thousandeyes, te_test):
    click_snooze(slack_server, worker, fake_slack, te_test.test_id)
    drain(worker)
    window_id = the_snooze(worker).te_window_id
    assert window_id in fake_thousandeyes.account.windows
    assert "Cancelled" in command(slack_server, f"cancel {the_snooze(worker).id}")["text"]
    drain(worker)
    [call] = fake_thousandeyes.calls_to(Operation.DELETE_WINDOW)
    assert call.path.endswith(f"/alert-suppression-windows/{window_id}")
    assert fake_thousandeyes.account.windows == {}
    said = announcements(fake_slack)[-1]
    assert "cancelled" in said.text and "in Slack and in ThousandEyes" in said.text


def test_a_token_that_may_not_edit_windows_snoozes_in_slack_only_saying_why(
        slack_server, worker, fake_slack, fake_thousandeyes, te_test):
    fake_thousandeyes.can_edit_windows = False
    parent = click_snooze(slack_server, worker, fake_slack, te_test.test_id)
    drain(worker)
    assert fake_thousandeyes.account.windows == {}
    snooze = the_snooze(worker)
    assert snooze.te_window_id is None and snooze.until > utcnow()
    parent = current(fake_slack, parent)
    assert "in Slack only: ThousandEyes said forbidden (403)" in shown(parent)
    assert_valid_message(RenderedMessage(parent.text, parent.blocks))
    [said] = announcements(fake_slack)
    assert "in Slack only: ThousandEyes said forbidden (403)" in said.text


def test_thousandeyes_down_snoozes_in_slack_only_after_a_few_tries(
        slack_server, worker, fake_slack, fake_thousandeyes, te_test):
    fake_thousandeyes.go_down("503")
    parent = click_snooze(slack_server, worker, fake_slack, te_test.test_id)
    drain(worker)
    assert 1 < len(fake_thousandeyes.calls_to(Operation.CREATE_WINDOW)) <= 3
    parent = current(fake_slack, parent)
    assert "in Slack only: ThousandEyes said unreachable (503)" in shown(parent)


def test_a_snooze_cancelled_before_thousandeyes_was_asked_leaves_no_window(
        slack_server, worker, fake_slack, fake_thousandeyes, te_test):
    click_snooze(slack_server, worker, fake_slack, te_test.test_id)
    assert "Cancelled" in command(slack_server, f"cancel {the_snooze(worker).id}")["text"]
    drain(worker)
    assert fake_thousandeyes.account.windows == {}


def test_a_new_snooze_replacing_one_replaces_its_window(
        slack_server, worker, fake_slack, fake_thousandeyes, te_test):
    parent = click_snooze(slack_server, worker, fake_slack, te_test.test_id, hours=1)
    drain(worker)
    with worker.database.session() as session:
        alert_id = session.scalars(select(AlertRow)).one().id
    response = choose(slack_server.url, SNOOZE, encode_snooze_choice(alert_id, 24),
                      user_id="U0ALICE", user_name="alice", channel_id=parent.channel,
                      message_ts=parent.ts)
    assert response.status_code == 200
    drain(worker)
    [window] = fake_thousandeyes.account.windows.values()
    assert window.duration > 23 * 3600



def test_an_alert_that_names_no_test_is_snoozed_in_slack_only_saying_so(
        slack_server, worker, fake_slack, fake_thousandeyes):
    send(slack_server, load_custom("generic_trigger"))  # the Generic preset sends no test id
    drain(worker)
    [parent] = fake_slack.top_level()
    with worker.database.session() as session:
        alert = session.scalars(select(AlertRow)).one()
    response = choose(slack_server.url, SNOOZE, encode_snooze_choice(alert.id, 1),
                      user_id="U0ALICE", user_name="alice", channel_id=parent.channel,
                      message_ts=parent.ts)
    assert response.status_code == 200
    drain(worker)
    assert fake_thousandeyes.calls == []
    words = "in Slack only: the alert names no ThousandEyes test to suppress"
    assert words in shown(current(fake_slack, parent))
    [said] = announcements(fake_slack)
    assert words in said.text
