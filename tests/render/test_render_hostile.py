"""Payload values written to break things: they must be shown, escaped, within limits."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from bot.render import actions
from bot.render.view import DisplayState
from bot.thousandeyes import parse_event

from .helpers import (
    all_text,
    assert_valid_message,
    buttons,
    load_payload,
    make_view,
    responders,
)

EVIL = '<!channel> <@U1> <!here|x> & "quotes" back\\slash \n newline \t tab </script> `tick`'
LONG_NAME = "T" * 5000


def hostile_test_event(agent_count: int = 300, name: str = EVIL + LONG_NAME):
    payload = load_payload("alert_notification_trigger")
    alert = payload["alert"]
    alert.update(
        testName=name,
        ruleName="<!everyone> rule & co",
        ruleExpression='Loss > 5% && "x" < `y`',
        type="<#C123>",
        severity="<!subteam^S1>",
        testLabels=["<!channel>", {"name": "a&b"}],
        testTargetsDescription=["<https://evil.example|click>"],
        permalink="https://app.thousandeyes.com/x?a=1&b=<2>|3",
    )
    alert["agents"] = [
        {
            "agentId": i,
            "agentName": f"agent {i} <!channel> \"q\" \\",
            "locationName": "<@U99> & place",
            "metricsAtStart": "Loss: 100% <b>&nbsp;",
            "metricsAtEnd": "\n\t\x00",
            "dateStart": "2014-08-24 01:01:47",
            "permalink": "javascript:alert(1)" if i % 2 else "https://ok.example/?a|b",
        }
        for i in range(agent_count)
    ]
    return parse_event(payload)


def hostile_agent_event():
    payload = load_payload("agent_alert_notification_clear")
    payload["agentAlert"].update(
        agentName="<!channel>" * 100,
        hostname='host"\\\n<@U1>',
        ipAddress="<!here>",
        ruleName="&amp; <rule>",
        ruleExpression="```" + "<!channel>" * 500,
        metricsAtStart="x" * 5000,
        metricsAtEnd="&" * 3000,
    )
    return parse_event(payload)


def _all_messages(renderer, view):
    yield renderer.render_parent(view)
    yield renderer.render_retrigger_note(view)
    if view.responders:
        yield renderer.render_ack_note(view, view.responders[0], True)
        yield renderer.render_ack_note(view, view.responders[0], False)
    if view.state is DisplayState.CLEARED:
        yield renderer.render_clear_reply(view)


def _assert_defused(message):
    assert not message.fallback
    assert_valid_message(message)  # includes: no live <!...> or <@...> token from a payload
    dumped = json.dumps(message.payload(), ensure_ascii=False)
    for live in ("<!channel>", "<!everyone>", "<!here", "<@U1>", "<@U99>", "<#C123>", "<!subteam"):
        assert live not in dumped


@pytest.mark.parametrize("state", list(DisplayState))
def test_hostile_test_alert_is_escaped_and_fits(renderer, state):
    view = make_view(hostile_test_event(), state)
    for message in _all_messages(renderer, view):
        _assert_defused(message)

    parent = renderer.render_parent(view)
    text = all_text(parent)
    assert "&lt;!channel&gt;" in parent.text  # shown, not executed
    assert "&lt;!channel&gt;" in text and "&lt;@U1&gt;" in text
    assert '"quotes"' in text and "back\\slash" in text
    assert "&lt;!everyone&gt; rule &amp; co" in parent.blocks[0]["text"]["text"]
    assert "…and 290 more agents" in text
    # Non-http agent links are shown as plain names, http ones stay links.
    assert "javascript:" not in json.dumps(parent.payload())
    assert "https://ok.example/?a%7Cb" in text
    # Over-long fields are cut before escaping: no warning needed, no entity split.
    assert len(parent.blocks[0]["text"]["text"]) <= 150
    view_button = buttons(parent)[actions.VIEW_IN_THOUSANDEYES]
    assert view_button["url"] == "https://app.thousandeyes.com/x?a=1&b=%3C2%3E%7C3"


@pytest.mark.parametrize("state", list(DisplayState))
def test_hostile_agent_alert_is_escaped_and_fits(renderer, state):
    view = make_view(hostile_agent_event(), state)
    for message in _all_messages(renderer, view):
        _assert_defused(message)
    assert "&lt;!here&gt;" in all_text(renderer.render_parent(view))


def test_non_http_permalink_drops_the_view_button(renderer):
    payload = load_payload("alert_notification_trigger")
    payload["alert"]["permalink"] = "javascript:alert(document.cookie)"
    view = make_view(parse_event(payload), DisplayState.TRIGGERED)
    message = renderer.render_parent(view)
    assert set(buttons(message)) == {actions.ACKNOWLEDGE}
    assert "javascript" not in json.dumps(message.payload())


def test_hostile_responder_names(renderer):
    event = parse_event(load_payload("alert_notification_trigger"))
    people = responders(
        event.alert.date_start,
        ("U1>|<!channel", "<!channel> Mallory", 1),  # a forged id must not become a token
        ("U0GOOD0001", "x" * 500, 2),
    )
    view = make_view(event, DisplayState.ACKNOWLEDGED, people=people)
    for message in _all_messages(renderer, view):
        _assert_defused(message)
    assert "&lt;!channel&gt; Mallory" in all_text(renderer.render_parent(view))


def test_unknown_event_payload_is_escaped_and_truncated(renderer):
    payload = {
        "eventType": "<!channel>",
        "eventId": "<@U1>",
        "blob": ["```<!here> & \"x\"```"] + ["y" * 100] * 100,
    }
    message = renderer.render_unknown_event(parse_event(payload))
    _assert_defused(message)
    code_block = message.blocks[1]["text"]["text"]
    assert code_block.startswith("```") and code_block.endswith("```")
    assert code_block.count("```") == 2  # the payload's own fences are broken up
    assert len(code_block) < 1500 + 300  # excerpt ~1500 chars plus escaping
    assert "&lt;!here&gt; &amp;" in code_block
    assert "Payload shortened to fit." in all_text(message)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.text(min_size=1, max_size=400),
    rule=st.text(max_size=200),
    agent=st.text(max_size=100),
)
def test_any_text_renders_valid(renderer, name, rule, agent):
    payload = load_payload("alert_notification_clear")
    payload["alert"].update(testName=name, ruleName=rule, ruleExpression=agent)
    payload["alert"]["agents"][0]["agentName"] = agent
    view = make_view(parse_event(payload), DisplayState.CLEARED)
    for message in (renderer.render_parent(view), renderer.render_clear_reply(view)):
        assert not message.fallback
        assert_valid_message(message)
