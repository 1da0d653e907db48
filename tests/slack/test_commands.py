"""The slash command's answers: rendered from templates like every message, so they are
escaped, within Block Kit limits and overridable."""

from __future__ import annotations

import json

from bot.clock import utcnow
from bot.config import Config
from bot.render import MessageRenderer
from bot.slack.command_input import CommandInput
from bot.slack.commands import MAX_LISTED, command_response
from bot.slack.permissions import ManagePermissions
from bot.slack.workspaces import GatewayProvider
from bot.store.alerts import record_parent
from bot.store.ingest import store_event
from bot.thousandeyes import parse_event
from tests.render.helpers import assert_valid_message
from tests.support.payloads import numbered_alert_event

CHANNEL = "C0ALERTS"


def _store_posted_alert(database, number: int, test_name: str, rule_name: str = "Rule") -> None:
    payload = numbered_alert_event("trigger", number, "cmd", test_name, ruleName=rule_name)
    result = store_event(database, parse_event(payload), route="default", channel=CHANNEL,
                         body_text=json.dumps(payload), now=utcnow())
    record_parent(database, result.alert_pk, CHANNEL, f"1700000000.{number:06d}")


def _ask(database, text: str, renderer: MessageRenderer | None = None):
    config = Config()
    return command_response(database, config, renderer or MessageRenderer(),
                            CommandInput(text=text, channel_id=CHANNEL, team_id=None,
                                         user_id="U0ALICE"),
                            ManagePermissions(GatewayProvider(config)))


def test_status_escapes_hostile_names_and_stays_within_limits(database):
    _store_posted_alert(database, 1, "<!channel> " + "T" * 5000, rule_name="<!here> & co")
    answer = _ask(database, "status")
    assert not answer.fallback
    assert_valid_message(answer)
    dumped = json.dumps(answer.blocks)
    assert "<!channel>" not in dumped and "<!here>" not in dumped
    assert "&lt;!here&gt; &amp; co" in dumped
    assert "thread>" in dumped  # a link to the alert's thread


def test_status_lists_at_most_twenty_and_says_there_are_more(database):
    for number in range(MAX_LISTED + 3):
        _store_posted_alert(database, number, f"test {number}")
    answer = _ask(database, "status")
    assert_valid_message(answer)
    assert answer.blocks[0]["text"]["text"] == f"*{MAX_LISTED}+ open ThousandEyes alert(s) in this channel*"
    assert len(answer.blocks) == MAX_LISTED + 1


def test_unknown_verb_is_quoted_safely_in_the_help(database):
    answer = _ask(database, "<!channel>")
    assert answer.text.startswith("I don't know `&lt;!channel&gt;`.")
    assert "`/thousandeyes status`" in answer.text


def test_answers_can_be_overridden_in_templates_dir(database, tmp_path):
    (tmp_path / "command_help.j2").write_text('{% do msg.text("Ask #netops, " ~ command) %}')
    answer = _ask(database, "help", MessageRenderer(str(tmp_path)))
    assert answer.text == "Ask #netops, /thousandeyes"


def test_a_broken_connect_template_still_shows_the_new_token(database, tmp_path):
    (tmp_path / "command_connect.j2").write_text("{{ 1 / 0 }}")
    answer = _ask(database, "connect", MessageRenderer(str(tmp_path)))
    assert answer.fallback
    assert "Token: " in json.dumps(answer.blocks)
