"""The typed context: frozen dataclasses; buttons built at layout time; one codec of
references."""

from __future__ import annotations

import dataclasses
from dataclasses import replace

import pytest

from bot.render import MessageRenderer
from bot.render.actions import ACKNOWLEDGE, SNOOZE, decode_snooze_choice
from bot.render.context import alert_context, event_context
from bot.render.context_types import TemplateContext
from bot.render.rollup import rollup_context
from bot.render.view import DisplayState

from .helpers import load_event, make_view


def test_an_alert_context_is_frozen_and_typed():
    context = alert_context(make_view(load_event("alert_notification_trigger"),
                                      DisplayState.TRIGGERED))
    assert dataclasses.is_dataclass(context)
    assert context.rule_name == context["rule_name"] == "Default Page Load Alert Rule"
    with pytest.raises(dataclasses.FrozenInstanceError):
        context.rule_name = "changed"  # type: ignore[misc]
    assert dataclasses.is_dataclass(event_context(load_event("webhook_test")))


def test_contexts_hold_no_block_kit():
    view = make_view(load_event("alert_notification_trigger"), DisplayState.TRIGGERED)
    assert "buttons" not in alert_context(view)
    storm = rollup_context(7, [view])
    assert dataclasses.is_dataclass(storm) and "actions" not in storm


def test_the_snooze_menu_decodes_the_reference_with_the_codec():
    renderer = MessageRenderer()
    view = make_view(load_event("alert_notification_trigger"), DisplayState.TRIGGERED)
    parent = renderer.render_parent(replace(view, alert_ref="alert:42"))
    menu = next(element for block in parent.blocks if block["type"] == "actions"
                for element in block["elements"] if element["action_id"] == SNOOZE)
    assert [decode_snooze_choice(option["value"]) for option in menu["options"]] == [
        (42, 1), (42, 4), (42, 24)]


def test_a_reference_the_codec_refuses_offers_no_snooze_and_still_renders():
    # "²" passes str.isdigit but is no id: slicing the reference used to end in int("²").
    view = make_view(load_event("alert_notification_trigger"), DisplayState.TRIGGERED)
    parent = MessageRenderer().render_parent(replace(view, alert_ref="alert:²"))
    assert not parent.fallback
    ids = [element["action_id"] for block in parent.blocks if block["type"] == "actions"
           for element in block["elements"]]
    assert ACKNOWLEDGE in ids and SNOOZE not in ids


def _contexts(cls=TemplateContext):
    for sub in cls.__subclasses__():
        yield sub
        yield from _contexts(sub)


def test_every_variable_of_every_typed_context_is_documented_in_docs_templates():
    from tests.render.test_render_context import _documented_keys

    documented = _documented_keys()
    missing = {f"{cls.__name__}.{name}" for cls in _contexts()
               for name in cls.template_names() if name not in documented}
    assert missing == set()
    # What buttons.py adds is documented too.
    assert {"buttons", "actions"} <= documented
