"""The reminder note (REMINDER_AFTER): escaped, within Block Kit limits, never lost."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from bot.render import MessageRenderer
from bot.render.view import DisplayState

from .helpers import assert_valid_message, buttons, load_event, make_view
from .test_render_hostile import _assert_defused, hostile_test_event

AFTER = timedelta(minutes=15)


@pytest.mark.parametrize("state", [DisplayState.TRIGGERED, DisplayState.ACKNOWLEDGED])
def test_hostile_names_in_a_reminder_are_escaped_and_fit(renderer, state):
    message = renderer.render_reminder_note(make_view(hostile_test_event(), state), AFTER, 2)
    _assert_defused(message)
    assert "&lt;!channel&gt;" in message.text
    assert "reminder 2" in json.dumps(message.blocks)


def test_the_routes_mention_is_the_only_live_token(renderer):
    view = make_view(hostile_test_event(), DisplayState.TRIGGERED)
    message = renderer.render_reminder_note(view, AFTER, 1, mention="subteam:S0ONCALL")
    dumped = json.dumps(message.payload(), ensure_ascii=False)
    assert message.text.startswith("<!subteam^S0ONCALL> ⏰ Still not acknowledged after 15m")
    assert dumped.count("<!") == dumped.count("<!subteam^S0ONCALL>") + dumped.count("<!date")
    # A mention option that is not one of the route's shapes yields nothing.
    assert "<!" not in renderer.render_reminder_note(view, AFTER, 1, mention="<!channel>").text


def test_a_broken_reminder_template_falls_back_with_the_alert_named(override_dir):
    view = make_view(load_event("alert_notification_trigger"), DisplayState.TRIGGERED)
    renderer = MessageRenderer(str(override_dir("reminder_note.j2", "{{ 1 / 0 }}")))
    message = renderer.render_reminder_note(view, AFTER, 1)
    assert message.fallback
    assert_valid_message(message)
    assert message.text.startswith("⏰ Still not acknowledged: Default Page Load Alert Rule")
    assert buttons(message) == {}
