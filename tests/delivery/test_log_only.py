"""Log-only delivery (no Slack credentials) writes each message as a few lines a person
reads; the Block Kit JSON and a Builder link only at DEBUG."""

from __future__ import annotations

import logging

from bot.config import Config
from bot.render.plain_text import plain_text
from tests.conftest import WEBHOOK_TOKEN
from tests.support.delivery import drain, send, serving
from tests.support.payloads import load_sample

GATEWAY = "bot.slack.gateway"


def logged(caplog, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == GATEWAY and r.levelno == level]


def test_a_trigger_and_its_clear_are_a_few_readable_lines(database_url, caplog):
    caplog.set_level(logging.INFO)
    with serving(Config(database_url=database_url, webhook_token=WEBHOOK_TOKEN,
                        delivery_threads=0)) as (server, worker):
        send(server, load_sample("trigger"))
        drain(worker)
        send(server, load_sample("clear"))
        drain(worker)
    parent, reply, update = logged(caplog, logging.INFO)
    lines = parent.splitlines()
    assert lines[0].startswith("log-only delivery (no SLACK_BOT_TOKEN): post to")
    assert lines[1] == "  🔴 Default Page Load Alert Rule"
    assert "  Status: 🔴 Triggered" in lines
    assert "  Started: 2014-08-24 01:01 UTC" in lines
    assert any(line.startswith("  • Boston, MA — Page load: Incomplete") for line in lines)
    # Every control the message carries, menus too (the ⋮ menu snoozes the rule).
    assert lines[-1] == ("  Buttons: [Acknowledge] [⋮ Snooze 1 h · Snooze 4 h · Snooze 24 h]"
                         " [View in ThousandEyes]")
    assert 6 <= len(lines) <= 15
    assert "in thread" in reply.splitlines()[0] and "Cleared after 8m 4s" in reply
    assert update.startswith("log-only delivery (no SLACK_BOT_TOKEN): update")
    assert "  Status: ✅ Cleared" in update.splitlines()
    for message in (parent, reply, update):
        assert '"blocks"' not in message and "<!date^" not in message and "&amp;" not in message
    assert logged(caplog, logging.DEBUG) == []


def test_debug_adds_the_block_kit_and_a_builder_link(database_url, caplog):
    caplog.set_level(logging.DEBUG, logger=GATEWAY)
    with serving(Config(database_url=database_url, webhook_token=WEBHOOK_TOKEN,
                        delivery_threads=0)) as (server, worker):
        send(server, load_sample("test"))
        drain(worker)
    blocks, link = logged(caplog, logging.DEBUG)
    assert '"blocks"' in blocks
    assert "https://app.slack.com/block-kit-builder" in link


def test_mrkdwn_tokens_read_as_their_labels():
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": "*Test:* <https://x.test/a?b=1&amp;c=2|Shop> for"
                                             " <!here> and <@U0ALICE01>: a &lt;b&gt;"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "one"},
                                         {"type": "plain_text", "text": "*two*"}]},
        {"type": "divider"},
    ]
    assert plain_text("fallback", blocks) == ("Test: Shop for @here and @U0ALICE01: a <b>\n"
                                              "  one · *two*")
    assert plain_text("only the *fallback*", []) == "only the fallback"
