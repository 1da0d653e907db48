"""Every shipped template, every sample payload, every state: what a user would see."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from bot.render import KINDS, MessageRenderer, actions
from bot.render.environment import SHIPPED_TEMPLATES_DIR
from bot.render.view import DisplayState
from bot.thousandeyes import parse_event

from .helpers import (
    ALERT_PAYLOADS,
    ALICE,
    BOB,
    all_text,
    assert_valid_message,
    buttons,
    load_event,
    make_view,
    responders,
    with_alert,
)

PERMALINK = "https://app.thousandeyes.com/alerts/list?__a=11&alertId=35541"


def _messages(renderer: MessageRenderer, payload: str, state: DisplayState):
    view = make_view(load_event(payload), state, trigger_count=3)
    yield "parent", renderer.render_parent(view)
    yield "retrigger", renderer.render_retrigger_note(view)
    if view.responders:
        yield "ack", renderer.render_ack_note(view, view.responders[0], True)
        yield "unack", renderer.render_ack_note(view, view.responders[0], False)
    if state is DisplayState.CLEARED:
        yield "clear", renderer.render_clear_reply(view)


@pytest.mark.parametrize("payload", ALERT_PAYLOADS)
@pytest.mark.parametrize("state", list(DisplayState))
def test_every_message_renders_valid_from_its_template(renderer, payload, state):
    for name, message in _messages(renderer, payload, state):
        assert not message.fallback, name
        assert message.warnings == (), name
        assert_valid_message(message)
        assert "Default" in message.text  # every message names its rule


def test_every_shipped_template_is_a_known_kind():
    shipped = {p.name.removesuffix(".j2") for p in SHIPPED_TEMPLATES_DIR.glob("[!_]*.j2")}
    assert shipped == set(KINDS)


def test_shipped_templates_never_bypass_escaping():
    for path in SHIPPED_TEMPLATES_DIR.glob("*.j2"):
        source = path.read_text()
        assert "|safe" not in source and "autoescape" not in source, path.name


def test_trigger_parent_reads_at_a_glance(renderer):
    view = make_view(load_event("alert_notification_trigger"), DisplayState.TRIGGERED)
    message = renderer.render_parent(view)

    assert message.text == "🔴 Triggered: Default Page Load Alert Rule on http://www.thousandeyes111.com"
    header = message.blocks[0]
    assert header["type"] == "header"
    assert header["text"]["text"] == "🔴 Default Page Load Alert Rule"
    text = all_text(message)
    assert f"<{PERMALINK.replace('&', '&amp;')}|http://www.thousandeyes111.com>" in text
    assert "`Page Load is incomplete`" in text
    assert "*Alert type*\nPage Load" in text
    assert "*Violations*\n2" in text
    assert "<!date^1408842107^{date_short_pretty} at {time}|2014-08-24 01:01 UTC>" in text
    assert "Boston, MA" in text and "Vancouver, Canada" in text
    assert "Page load: Incomplete" in text
    assert "and 0 more" not in text and "Acknowledged by" not in text

    found = buttons(message)
    assert set(found) == {actions.ACKNOWLEDGE, actions.VIEW_IN_THOUSANDEYES}
    ack = found[actions.ACKNOWLEDGE]
    assert ack["text"]["text"] == "Acknowledge"
    assert ack["style"] == "primary"
    assert ack["value"] == view.alert_ref
    assert found[actions.VIEW_IN_THOUSANDEYES]["url"] == PERMALINK  # a URL, not mrkdwn


def test_severity_and_labels_show_when_sent(renderer):
    view = with_alert(
        make_view(load_event("alert_notification_trigger"), DisplayState.TRIGGERED),
        severity="MAJOR",
        test_labels=("prod", "web"),
        test_targets_description=("www.example.com",),
    )
    text = all_text(renderer.render_parent(view))
    assert "*Severity*\nMAJOR" in text
    assert "🏷️ prod · web" in text
    assert "🎯 www.example.com" in text


def test_acknowledged_parent_names_both_responders_and_offers_unacknowledge(renderer):
    view = make_view(load_event("alert_notification_trigger"), DisplayState.ACKNOWLEDGED)
    message = renderer.render_parent(view)

    assert message.text.startswith("🟠 Acknowledged: ")
    assert f"🟠 Acknowledged by <@{ALICE}>, <@{BOB}> · 2m after trigger" in all_text(message)
    found = buttons(message)
    assert set(found) == {actions.ACKNOWLEDGE, actions.UNACKNOWLEDGE, actions.VIEW_IN_THOUSANDEYES}
    assert found[actions.UNACKNOWLEDGE]["value"] == view.alert_ref
    assert found[actions.ACKNOWLEDGE]["value"] == view.alert_ref
    # Buttons are in one actions block, Acknowledge first.
    action_blocks = [b for b in message.blocks if b["type"] == "actions"]
    assert len(action_blocks) == 1
    assert action_blocks[0]["elements"][0]["action_id"] == actions.ACKNOWLEDGE


def test_cleared_parent_has_no_acknowledge_but_keeps_the_link(renderer):
    view = make_view(load_event("alert_notification_clear"), DisplayState.CLEARED)
    message = renderer.render_parent(view)

    assert message.text.startswith("✅ Cleared: ")
    assert set(buttons(message)) == {actions.VIEW_IN_THOUSANDEYES}
    text = all_text(message)
    assert "*Duration*\n8m 4s" in text
    assert "*Cleared*\n<!date^1408842591^" in text
    # Alice's 2m is the time to acknowledge: said once.
    assert f"Acknowledged by <@{ALICE}> (2m), <@{BOB}> (5m)\n" in text + "\n"
    assert "time to acknowledge" not in text
    assert "Page Load: Complete" in text  # agents show their end state once cleared


def test_cleared_without_responders_says_so(renderer):
    view = make_view(load_event("alert_notification_clear"), DisplayState.CLEARED, people=())
    assert "Nobody acknowledged this alert." in all_text(renderer.render_parent(view))
    reply = renderer.render_clear_reply(view)
    assert "Nobody acknowledged this alert." in all_text(reply)


def test_clear_reply_tells_duration_end_metrics_and_responders(renderer):
    view = make_view(load_event("alert_notification_clear"), DisplayState.CLEARED)
    message = renderer.render_clear_reply(view)

    assert message.text == (
        "✅ Cleared after 8m 4s: Default Page Load Alert Rule on http://www.thousandeyes111.com"
    )
    text = all_text(message)
    assert "✅ *Cleared* after *8m 4s*" in text
    assert text.count("Page Load: Complete") >= 2  # both agents' metrics at end
    # Names, not mentions: a new reply must not ping the responders.
    assert "Acknowledged by Alice (2m), Bob (5m)" in text and "time to acknowledge" not in text
    assert "<@" not in text
    assert buttons(message) == {}


def test_agent_alert_parent_shows_the_agent(renderer):
    view = make_view(load_event("agent_alert_notification_trigger"), DisplayState.TRIGGERED)
    message = renderer.render_parent(view)

    assert message.text == ("🔴 Triggered: Default Agent Clock Offset Notification on Packet1"
                            " (TE-AGENT1.local.lan, 147.75.199.171)")
    text = all_text(message)
    for expected in (
        "*Packet1*",
        "*Hostname*\nTE-AGENT1.local.lan",
        "*IP address*\n147.75.199.171",
        "`Clock Offset ≤ 60 seconds`",
        "*Metrics at start*\nClock Offset: 20 seconds",
        "<!date^1476987748^",
    ):
        assert expected in text
    # No permalink in agent notifications: the link goes to ThousandEyes' alert list.
    assert set(buttons(message)) == {actions.ACKNOWLEDGE, actions.VIEW_IN_THOUSANDEYES}


def test_agent_alert_clear_parent_and_reply(renderer):
    view = make_view(load_event("agent_alert_notification_clear"), DisplayState.CLEARED)
    parent = renderer.render_parent(view)
    assert set(buttons(parent)) == {actions.VIEW_IN_THOUSANDEYES}
    parent_text = all_text(parent)
    assert "*Metrics at end*\nClock Offset: 130 seconds" in parent_text
    assert "*Duration*\n113d 13h" in parent_text

    reply = renderer.render_clear_reply(view)
    assert reply.text.startswith("✅ Cleared after 113d 13h: Default Agent Clock Offset Notification")
    assert "*Metrics at end:* Clock Offset: 130 seconds" in all_text(reply)


def test_retrigger_note_counts(renderer):
    view = make_view(load_event("alert_notification_trigger"), DisplayState.TRIGGERED, trigger_count=3)
    message = renderer.render_retrigger_note(view)
    assert "Triggered again* (3 times)" in all_text(message)
    assert message.text.endswith("triggered again (3 times)")
    assert "🔁 Triggered 3 times" in all_text(renderer.render_parent(view))


def test_ack_notes(renderer):
    event = load_event("alert_notification_trigger")
    start = event.alert.date_start
    both = make_view(event, DisplayState.ACKNOWLEDGED)
    alice = both.responders[0]

    note = renderer.render_ack_note(both, alice, True)
    assert note.text.startswith("Alice acknowledged: Default Page Load Alert Rule")
    assert "🟠 *Alice* acknowledged · 2m after trigger" in all_text(note)

    only_bob = make_view(event, DisplayState.ACKNOWLEDGED, people=responders(start, (BOB, "Bob", 5)))
    note = renderer.render_ack_note(only_bob, alice, False)
    assert note.text.startswith("Alice is no longer acknowledging: ")
    assert "still acknowledged by Bob" in all_text(note)

    nobody = make_view(event, DisplayState.TRIGGERED, people=())
    note = renderer.render_ack_note(nobody, alice, False)
    assert "nobody is acknowledging now" in all_text(note)
    assert_valid_message(note)


def test_time_to_acknowledge_in_hours(renderer):
    event = load_event("alert_notification_trigger")
    start = event.alert.date_start
    people = responders(start, (ALICE, "Alice", 125))
    view = make_view(event, DisplayState.ACKNOWLEDGED, people=people)
    assert "2h 5m after trigger" in all_text(renderer.render_parent(view))
    assert people[0].acknowledged_at - start == timedelta(hours=2, minutes=5)


def test_webhook_test_confirms_the_pipe(renderer):
    message = renderer.render_webhook_test(load_event("webhook_test"))
    assert not message.fallback
    assert_valid_message(message)
    assert message.text == (
        "✅ ThousandEyes webhook test received — alerts will appear in this channel."
    )
    assert "Event ID `1415733887743`" in all_text(message)


def test_unknown_event_names_the_type_and_shows_the_payload(renderer):
    payload = {"eventType": "NEW_THING", "eventId": "e-1", "detail": {"a": 1}}
    message = renderer.render_unknown_event(parse_event(payload))
    assert not message.fallback
    assert_valid_message(message)
    text = all_text(message)
    assert "NEW_THING" in message.text
    assert '```{\n  "eventType": "NEW_THING",' in text
    assert "Event ID `e-1`" in text


def test_time_to_acknowledge_is_said_when_no_responder_shows_it(renderer):
    # Alice acknowledged first (2m) and took it back: Bob (5m) is left; 2m is still the
    # time to acknowledge, and appears nowhere else.
    view = make_view(load_event("alert_notification_clear"), DisplayState.CLEARED,
                     people=responders(load_event("alert_notification_clear").alert.date_start,
                                       (BOB, "Bob", 5)))
    view = replace(view, first_acknowledged_at=view.triggered_at + timedelta(minutes=2))
    text = all_text(renderer.render_clear_reply(view))
    assert "Acknowledged by Bob (5m) · time to acknowledge 2m" in text


def test_one_emoji_per_state_in_every_message(renderer):
    """🟠 is acknowledged wherever a message shows it: parents, notes, the storm roll-up."""
    acknowledged = make_view(load_event("alert_notification_trigger"), DisplayState.ACKNOWLEDGED)
    texts = [all_text(message) for _name, message in _messages(
        renderer, "alert_notification_trigger", DisplayState.ACKNOWLEDGED)]
    storm = [replace(acknowledged, alert_ref=f"alert:{n}") for n in range(1, 7)]
    texts.append(all_text(renderer.render_rollup(1, storm)))
    assert all("👀" not in text for text in texts)
    assert all("🟠" in text for text in texts[:1] + texts[-1:])
    assert "🟠 *6* acknowledged" in texts[-1]
