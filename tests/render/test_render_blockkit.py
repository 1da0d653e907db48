"""Block Kit limits: trimmed, never rejected, and each cut reported."""

from __future__ import annotations

import json
from urllib.parse import unquote

from bot.render import MessageRenderer, block_kit_builder_url
from bot.render.blockkit import enforce_limits, trim_text

from .helpers import assert_valid_message, load_event


def _section(text, **extra):
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def _button(action_id, text="Go", **extra):
    return {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action_id, **extra}


def test_trim_never_cuts_an_entity():
    for offset in range(8):
        text = "a" * (2995 + offset) + "&amp;" * 20
        cut = trim_text(text, 3000)
        assert len(cut) <= 3000
        assert cut.endswith("…")
        body = cut[:-1]
        assert body.count("&") == body.count("&amp;")


def test_trim_never_cuts_a_link_or_mention():
    text = "x" * 2980 + "<https://example.com/a/very/long/path|label> <@U0ABC>"
    cut = trim_text(text, 3000)
    assert cut == "x" * 2980 + "…"


def test_trim_closes_a_code_block():
    cut = trim_text("```" + "y" * 5000 + "```", 3000)
    assert len(cut) <= 3000
    assert cut.endswith("…\n```") and cut.count("```") == 2


def test_short_text_is_untouched():
    assert trim_text("&amp; <@U1>", 3000) == "&amp; <@U1>"


def test_limits_are_trimmed_with_warnings():
    message = {
        "text": "t" * 50_000,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "H" * 400}},
            _section("s" * 3500),
            {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2500}] * 12},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 12},
            {"type": "actions", "elements": [
                _button("a1", text="B" * 100),
                _button("a2", value="v" * 2001),
                _button("a3", url="https://x.example/" + "p" * 3000),
            ]},
        ],
    }
    text, blocks, warnings = enforce_limits(message)
    assert len(text) == 3000
    assert len(blocks[0]["text"]["text"]) == 150
    assert len(blocks[1]["text"]["text"]) == 3000
    assert len(blocks[2]["fields"]) == 10 and all(len(f["text"]) == 2000 for f in blocks[2]["fields"])
    assert len(blocks[3]["elements"]) == 10
    assert [b["action_id"] for b in blocks[4]["elements"]] == ["a1"]
    assert len(blocks[4]["elements"][0]["text"]["text"]) == 75
    joined = "\n".join(warnings)
    for expected in ("message text trimmed from 50000 to 3000", "block 0 (header) text trimmed",
                     "block 1 (section) text trimmed", "2 fields over 10 dropped",
                     "2 elements over the limit dropped", "value over 2000",
                     "url empty or over 3000"):
        assert expected in joined


def test_block_count_keeps_the_buttons():
    blocks = [_section(f"s{i}") for i in range(60)] + [{"type": "actions", "elements": [_button("ack")]}]
    _, kept, warnings = enforce_limits({"text": "x", "blocks": blocks})
    assert len(kept) == 50
    assert kept[-1]["type"] == "actions"
    assert kept[-2]["elements"][0]["text"] == "… 12 more blocks not shown"
    assert warnings == ["12 blocks over the 50-block limit dropped"]


def test_duplicate_ids_are_resolved():
    blocks = [
        _section("a", block_id="same"),
        _section("b", block_id="same"),
        {"type": "actions", "block_id": "acts", "elements": [_button("ack"), _button("ack")]},
        _section("c", accessory=_button("ack")),
    ]
    _, kept, warnings = enforce_limits({"text": "x", "blocks": blocks})
    assert kept[0]["block_id"] == "same" and "block_id" not in kept[1]
    assert len(kept[2]["elements"]) == 1
    assert "accessory" not in kept[3]
    assert sum("duplicate" in w for w in warnings) == 3


def test_empty_texts_are_dropped_not_sent():
    blocks = [
        _section(""),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": " "}]},
        {"type": "header", "text": {"type": "plain_text", "text": ""}},
        {"type": "actions", "elements": [_button("x", text="")]},
        "not a block",
        {"type": "divider"},
    ]
    _, kept, warnings = enforce_limits({"text": "x", "blocks": blocks})
    assert kept == [{"type": "divider"}]
    assert warnings == [
        "block 0 (section) dropped: no text and no fields",
        "block 1 (context) dropped: no elements left",
        "block 2 (header) dropped: empty text",
        "block 3 (actions) element 0 dropped: button without text",
        "block 3 (actions) dropped: no elements left",
        "block 4 dropped: not a block object",
    ]


def test_override_template_over_limits_is_trimmed_and_reported(override_dir):
    directory = override_dir(
        "webhook_test.j2",
        '{% do msg.text("ok") %}{% do msg.header("&" * 400) %}',
    )
    message = MessageRenderer(str(directory)).render_webhook_test(load_event("webhook_test"))
    assert not message.fallback
    assert message.warnings == ("block 0 (header) text trimmed from 2000 to 150 characters",)
    assert_valid_message(message)
    assert message.blocks[0]["text"]["text"] == "&amp;" * 29 + "…"


def test_block_kit_builder_url_round_trips(renderer):
    message = renderer.render_webhook_test(load_event("webhook_test"))
    url = block_kit_builder_url(message)
    prefix = "https://app.slack.com/block-kit-builder#"
    assert url.startswith(prefix)
    assert json.loads(unquote(url[len(prefix):])) == {"blocks": message.blocks}
    assert block_kit_builder_url(message.payload()) == url
    assert block_kit_builder_url(message.blocks) == url
    assert " " not in url and "{" not in url
