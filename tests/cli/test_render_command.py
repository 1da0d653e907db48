"""``python -m bot render`` as a user runs it, in the account's timezone."""

from __future__ import annotations

import json
import re

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
