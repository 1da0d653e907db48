"""A broken template never loses an alert; overrides replace one template at a time."""

from __future__ import annotations

import logging

import pytest

from bot.render import MessageRenderer, actions
from bot.render.kinds import MessageKind
from bot.render.view import DisplayState

from .helpers import all_text, assert_valid_message, buttons, load_event, make_view, with_alert

BROKEN_TEMPLATES = {
    "syntax error": '{% do msg.text(rule_name }',
    "unclosed block": '{% if rule_name %}{% do msg.text("x") %}',
    "raises at render": '{% do msg.text(1 // 0) %}',
    "calls a missing method": '{% do msg.text(rule_name.nope()) %}',
    "no text": '{% do msg.section("x") %}',
    "empty text": '{% do msg.text("  ") %}',
    "fields not pairs": '{% do msg.text("x") %}{% do msg.fields(["a"]) %}',
    "context not a list": '{% do msg.text("x") %}{% do msg.context("a") %}',
    "button without action": '{% do msg.text("x") %}{% do msg.actions([{"text": "a"}]) %}',
    "layout probe": '{% do msg.text(msg._blocks) %}',
    "sandbox escape": '{% do msg.text(\'\'.__class__.__mro__) %}',
    "sandbox probe": '{{ \'\'.__class__ }}{% do msg.text("x") %}',
    "globals probe": '{% do msg.text(link.__globals__) %}',
    "huge string": '{% do msg.text(\'x\' * 100000000) %}',
    "context mutation": '{% do agents.append(1) %}{% do msg.text("x") %}',
    "missing import": '{% import "nope.j2" as n %}{% do msg.text("x") %}',
}


@pytest.fixture
def hostile_view():
    view = make_view(load_event("alert_notification_trigger"), DisplayState.ACKNOWLEDGED)
    return with_alert(view, rule_name="<!channel> Page & Load")


@pytest.mark.parametrize("broken", list(BROKEN_TEMPLATES), ids=list(BROKEN_TEMPLATES))
def test_broken_parent_template_falls_back_and_keeps_the_alert(
    override_dir, hostile_view, caplog, broken
):
    directory = override_dir("alert_parent.j2", BROKEN_TEMPLATES[broken])
    renderer = MessageRenderer(str(directory))

    with caplog.at_level(logging.ERROR, logger="bot.render.renderer"):
        message = renderer.render_parent(hostile_view)

    assert message.fallback
    assert_valid_message(message)
    assert "&lt;!channel&gt; Page &amp; Load" in message.text  # named, and escaped
    assert "http://www.thousandeyes111.com" in message.text
    # The workflow survives: Acknowledge, Unacknowledge and the link are still there.
    found = buttons(message)
    assert found[actions.ACKNOWLEDGE]["value"] == hostile_view.alert_ref
    assert actions.UNACKNOWLEDGE in found and actions.VIEW_IN_THOUSANDEYES in found
    assert "`alert_parent` template failed" in all_text(message)
    # Logged with its traceback, so someone can fix the template.
    failures = [r for r in caplog.records if "alert_parent" in r.getMessage()]
    assert failures and failures[0].exc_info is not None


def test_fallback_for_a_cleared_alert_has_no_acknowledge(override_dir):
    view = make_view(load_event("alert_notification_clear"), DisplayState.CLEARED)
    renderer = MessageRenderer(str(override_dir("alert_parent.j2", "{{ oops(")))
    message = renderer.render_parent(view)
    assert message.fallback
    assert set(buttons(message)) == {actions.VIEW_IN_THOUSANDEYES}


@pytest.mark.parametrize(
    "method, template",
    [
        ("render_clear_reply", "alert_clear_reply.j2"),
        ("render_retrigger_note", "retrigger_note.j2"),
    ],
)
def test_broken_thread_templates_fall_back_with_the_alert_named(override_dir, method, template):
    view = make_view(load_event("alert_notification_clear"), DisplayState.CLEARED)
    renderer = MessageRenderer(str(override_dir(template, "{% endfor %}")))
    message = getattr(renderer, method)(view)
    assert message.fallback
    assert_valid_message(message)
    assert "Default Page Load Alert Rule on http://www.thousandeyes111.com" in message.text
    assert buttons(message) == {}  # only parents carry buttons


def test_broken_ack_note_and_event_templates_fall_back(override_dir):
    for name in ("ack_note", "webhook_test", "unknown_event"):
        override_dir(f"{name}.j2", "{{ 1 / 0 }}")
    renderer = MessageRenderer(str(override_dir.path))
    view = make_view(load_event("alert_notification_trigger"), DisplayState.ACKNOWLEDGED)

    note = renderer.render_ack_note(view, view.responders[0], True)
    assert note.fallback and note.text.startswith("Alice acknowledged: Default Page Load")

    test = renderer.render_webhook_test(load_event("webhook_test"))
    assert test.fallback and "webhook test received" in test.text

    from bot.thousandeyes import parse_event

    unknown = renderer.render_unknown_event(parse_event({"eventType": "<!here>", "eventId": "1"}))
    assert unknown.fallback and unknown.text == "ThousandEyes event &lt;!here&gt;"
    for message in (note, test, unknown):
        assert_valid_message(message)


def test_override_replaces_one_template_and_the_rest_stay_shipped(override_dir):
    # The override reuses the shipped macros: imports resolve through the same loader.
    directory = override_dir(
        "webhook_test.j2",
        '{% import "_macros.j2" as m %}'
        '{% do msg.text("Custom hello " ~ event_id) %}'
        '{% call msg.section() %}Custom {{ event_id }} {{ m.responder_names([], 0) }}{% endcall %}',
    )
    renderer = MessageRenderer(str(directory))

    custom = renderer.render_webhook_test(load_event("webhook_test"))
    assert not custom.fallback
    assert custom.text == "Custom hello 1415733887743"
    assert custom.blocks[0]["text"]["text"] == "Custom 1415733887743"

    view = make_view(load_event("alert_notification_trigger"), DisplayState.TRIGGERED)
    shipped = renderer.render_parent(view)
    assert not shipped.fallback
    assert shipped.text.startswith("🔴 Triggered: Default Page Load Alert Rule")


def test_override_of_the_macros_applies_to_shipped_templates(override_dir):
    from bot.render.environment import SHIPPED_TEMPLATES_DIR

    macros = (SHIPPED_TEMPLATES_DIR / "_macros.j2").read_text()
    macros = macros.replace('"Acknowledged by "', '"Taken by "')
    renderer = MessageRenderer(str(override_dir("_macros.j2", macros)))
    view = make_view(load_event("alert_notification_clear"), DisplayState.CLEARED)
    message = renderer.render_parent(view)
    assert not message.fallback
    assert "Taken by <@U0ALICE01> (2m)" in all_text(message)


def test_missing_override_directory_uses_the_shipped_templates(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        renderer = MessageRenderer(str(tmp_path / "does-not-exist"))
    assert "not a directory" in caplog.text
    message = renderer.render_webhook_test(load_event("webhook_test"))
    assert not message.fallback


@pytest.mark.parametrize("kind", ["no_such_template", "../etc/passwd", "", "ALERT_PARENT"])
def test_unknown_kinds_fall_back(renderer, kind):
    message = renderer.render(kind, {"event_type": "X", "event_id": "1"})
    assert message.fallback
    assert_valid_message(message)


def test_render_with_the_shipped_template_by_kind(renderer):
    from bot.render.context import alert_context

    view = make_view(load_event("alert_notification_trigger"), DisplayState.TRIGGERED)
    message = renderer.render(MessageKind.ALERT_PARENT, alert_context(view))
    assert message == renderer.render_parent(view)


def test_fallback_reply_for_a_closed_alert_does_not_read_as_a_recovery(override_dir):
    from bot.thousandeyes import parse_event
    from tests.support.payloads import load_shape

    view = make_view(parse_event(load_shape("http_server_rule_removed_clear")), DisplayState.CLEARED)
    renderer = MessageRenderer(str(override_dir("alert_clear_reply.j2", "{{ oops(")))
    message = renderer.render_clear_reply(view)
    assert message.fallback
    assert message.text.startswith("⚪ Closed, alert rule changed: Checkout API availability")


def test_a_legacy_json_template_in_templates_dir_is_named_and_not_used(override_dir, caplog):
    directory = override_dir("alert_parent.json.j2", '{"text": "old", "blocks": []}')
    with caplog.at_level(logging.WARNING):
        renderer = MessageRenderer(str(directory))
    assert "alert_parent.json.j2 renders JSON" in caplog.text
    assert "alert_parent.j2" in caplog.text
    view = make_view(load_event("alert_notification_trigger"), DisplayState.TRIGGERED)
    assert renderer.render_parent(view).text.startswith("🔴 Triggered: Default Page Load")


def test_text_printed_outside_msg_is_reported_not_sent(override_dir):
    directory = override_dir("webhook_test.j2", '{"text": "<!channel>"}{% do msg.text("ok") %}')
    message = MessageRenderer(str(directory)).render_webhook_test(load_event("webhook_test"))
    assert message.text == "ok" and message.blocks == []
    assert any("outside msg" in warning for warning in message.warnings)
