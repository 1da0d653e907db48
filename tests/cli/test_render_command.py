"""``python -m bot render`` as a user runs it, in the account's timezone."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.processes import REPO, bot_env, run_bot

SHAPES = REPO / "tests" / "fixtures" / "shapes"
SAMPLES = REPO / "bot" / "thousandeyes" / "samples"


def rendered(result) -> tuple[str, list[int]]:
    assert result.returncode == 0, result.stderr
    message = json.loads(result.stdout)
    text = message["text"] + json.dumps(message["blocks"], ensure_ascii=False)
    return text, [int(epoch) for epoch in re.findall(r"<!date\^(\d+)\^", text)]


def test_agent_offline_in_todays_shape_says_which_agent_and_where(tmp_path):
    result = run_bot("render", str(SHAPES / "agent_offline_trigger.json"), env=bot_env(),
                     cwd=tmp_path)
    text, dates = rendered(result)
    assert "on chi-branch-07 (te-agent-chi07.corp.example, 10.42.7.19)" in text
    assert "Test:" not in text
    assert dates == [1650925080]  # 17:18 CDT


def test_unzoned_dates_follow_thousandeyes_timezone(tmp_path):
    trigger = str(SAMPLES / "alert_notification_trigger.json")  # 2014-08-24 01:01:47
    _, utc = rendered(run_bot("render", trigger, env=bot_env(), cwd=tmp_path))
    _, chicago = rendered(run_bot("render", trigger, cwd=tmp_path,
                                  env=bot_env(THOUSANDEYES_TIMEZONE="America/Chicago")))
    assert utc[0] == 1408842107
    assert chicago[0] == utc[0] + 5 * 3600  # CDT in August


def test_a_wrong_timezone_stops_render_with_one_line(tmp_path):
    result = run_bot("render", str(SHAPES / "agent_offline_trigger.json"), cwd=tmp_path,
                     env=bot_env(THOUSANDEYES_TIMEZONE="America/Chicgo"))
    assert result.returncode == 2
    assert "THOUSANDEYES_TIMEZONE: 'America/Chicgo' is not an IANA timezone name" in result.stderr
    assert "did you mean America/Chicago?" in result.stderr
    assert "Traceback" not in result.stderr


def preview(tmp_path, *args: str) -> str:
    result = run_bot("render", *args, env=bot_env(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Block Kit Builder: https://app.slack.com/block-kit-builder" in result.stderr
    message = json.loads(result.stdout)
    return message["text"] + json.dumps(message["blocks"], ensure_ascii=False)


TRIGGER = str(SAMPLES / "alert_notification_trigger.json")
CLEAR = str(SAMPLES / "alert_notification_clear.json")


def test_every_message_of_an_alert_can_be_previewed(tmp_path):
    assert "🔴 Triggered" in preview(tmp_path, TRIGGER)
    reply = preview(tmp_path, CLEAR, "--message", "clear-reply")
    assert "Cleared* after *8m 4s*" in reply and "Nobody acknowledged" in reply
    note = preview(tmp_path, TRIGGER, "--message", "ack-note", "--responder", "alice")
    assert "*alice* acknowledged" in note
    retrigger = preview(tmp_path, TRIGGER, "--message", "retrigger-note")
    assert "Triggered again* (2 times)" in retrigger
    acknowledged = preview(tmp_path, TRIGGER, "--state", "acknowledged", "--responder", "U0ALICE01")
    assert "🟠 Acknowledged" in acknowledged and "<@U0ALICE01>" in acknowledged


def test_a_preview_invents_no_acknowledgement(tmp_path):
    cleared = preview(tmp_path, CLEAR)
    assert "✅ Cleared" in cleared
    assert "Acknowledged by" not in cleared and "PREVIEW" not in cleared
    assert "Nobody acknowledged this alert." in cleared
    with_responder = preview(tmp_path, CLEAR, "--responder", "U0ALICE01")
    assert "✅ Cleared" in with_responder and "Acknowledged by <@U0ALICE01>" in with_responder


@pytest.mark.parametrize(("args", "says"), [
    ((TRIGGER, "--message", "ack-note"), "--message ack-note needs --responder NAME"),
    ((TRIGGER, "--state", "acknowledged"), "--state acknowledged needs --responder NAME"),
    ((TRIGGER, "--message", "clear-reply", "--state", "triggered"), "--message clear-reply"),
    ((str(SAMPLES / "webhook_test.json"), "--message", "ack-note", "--responder", "a"),
     "WEBHOOK_TEST is not an alert"),
    ((TRIGGER, "--message", "reply"), "argument --message: invalid choice"),
])
def test_a_message_the_payload_cannot_make_is_one_line(tmp_path, args, says):
    result = run_bot("render", *args, env=bot_env(), cwd=tmp_path)
    assert result.returncode == 2
    assert says in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_the_reminder_note_previews_with_reminder_after(tmp_path):
    reminder = preview(tmp_path, TRIGGER, "--message", "reminder-note")
    assert "Still not acknowledged* after 15m" in reminder  # REMINDER_AFTER off: 15m
    text, _ = rendered(run_bot("render", TRIGGER, "--message", "reminder-note", cwd=tmp_path,
                               env=bot_env(REMINDER_AFTER="90s")))
    assert "after 1m 30s" in text


def test_a_storm_rollup_and_its_thread_page_can_be_previewed(tmp_path):
    rollup = preview(tmp_path, TRIGGER, "--message", "storm-rollup")
    assert "Storm: 12 ThousandEyes alerts" in rollup and "Acknowledge all 12" in rollup
    assert rollup.count("Default Page Load Alert Rule") >= 1
    page = preview(tmp_path, CLEAR, "--message", "storm-page")
    assert "page 1 of 2" in page and "Cleared" in page
