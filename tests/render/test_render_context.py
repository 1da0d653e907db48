"""The flat template context: complete, plain, and computed the way people read it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import pytest

from bot.render import actions
from bot.render.context import (
    ALERT_LIST_URL,
    EXCERPT_LIMIT,
    MAX_AGENTS_SHOWN,
    alert_context,
    event_context,
    payload_excerpt,
)
from bot.render.timefmt import human_duration
from bot.render.view import DisplayState
from bot.thousandeyes import parse_event

from .helpers import ALERT_PAYLOADS, ALICE, BOB, load_event, load_payload, make_view, responders

PLAIN_TYPES = (str, int, float, bool, type(None), datetime)


def _assert_plain(value, path="context"):
    if isinstance(value, Mapping):
        for key, item in value.items():
            assert isinstance(key, str), path
            _assert_plain(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _assert_plain(item, f"{path}[{i}]")
    else:
        assert isinstance(value, PLAIN_TYPES), f"{path} is a {type(value).__name__}"


@pytest.mark.parametrize(
    "seconds, shown",
    [
        (0, "0s"), (45, "45s"), (60, "1m"), (484, "8m 4s"), (3600, "1h"), (7500, "2h 5m"),
        (86400, "1d"), (3 * 86400 + 3600 + 59, "3d 1h"), (-30, "0s"), (None, ""),
        (timedelta(minutes=2), "2m"), (float("nan"), ""), ("5", ""),
    ],
)
def test_human_duration(seconds, shown):
    assert human_duration(seconds) == shown


@pytest.mark.parametrize("payload", ALERT_PAYLOADS)
@pytest.mark.parametrize("state", list(DisplayState))
def test_context_is_plain_and_has_the_same_keys_for_every_alert(payload, state):
    context = alert_context(make_view(load_event(payload), state))
    _assert_plain(context)
    reference = alert_context(make_view(load_event("alert_notification_trigger"), DisplayState.TRIGGERED))
    assert set(context) == set(reference)
    assert context["actions"] == {
        "acknowledge": actions.ACKNOWLEDGE,
        "unacknowledge": actions.UNACKNOWLEDGE,
        "view": actions.VIEW_IN_THOUSANDEYES,
        "snooze": actions.SNOOZE,
    }
    assert context["state"] == state.value
    assert context["is_cleared"] is (state is DisplayState.CLEARED)


def test_test_alert_context_values():
    context = alert_context(make_view(load_event("alert_notification_clear"), DisplayState.CLEARED))
    assert context["kind"] == "test"
    assert (context["state_label"], context["state_emoji"]) == ("Cleared", "✅")
    assert context["rule_name"] == "Default Page Load Alert Rule"
    assert context["title"] == context["test_name"] == "http://www.thousandeyes111.com"
    assert context["test_id"] == "5370"
    assert context["violation_count"] == 2
    assert context["duration"] == "8m 4s" and context["duration_seconds"] == 484
    assert [a["name"] for a in context["agents"]] == ["Boston, MA", "Vancouver, Canada"]
    assert context["agents"][0]["metrics_at_end"] == "Page Load: Complete"
    assert context["agents"][0]["duration"] == "8m"
    assert context["agent_name"] == "" and context["agent_ip"] == ""


def test_agent_alert_context_values():
    context = alert_context(make_view(load_event("agent_alert_notification_trigger"), DisplayState.TRIGGERED))
    assert context["kind"] == "agent"
    assert context["title"] == context["agent_name"] == "Packet1"
    assert context["agent_hostname"] == "TE-AGENT1.local.lan"
    assert context["agent_ip"] == "147.75.199.171"
    assert context["metrics_at_start"] == "Clock Offset: 20 seconds"
    # No permalink in agent notifications: the link goes to ThousandEyes' alert list.
    assert context["permalink"] == ALERT_LIST_URL and context["agents"] == []
    assert context["permalink_label"] == "ThousandEyes alerts"
    assert context["cleared_at"] is None and context["duration"] == ""


def test_agents_beyond_the_limit_are_counted():
    payload = load_payload("alert_notification_trigger")
    payload["alert"]["agents"] = payload["alert"]["agents"] * 150
    context = alert_context(make_view(parse_event(payload), DisplayState.TRIGGERED))
    assert len(context["agents"]) == MAX_AGENTS_SHOWN
    assert context["agents_total"] == 300
    assert context["agents_more"] == 300 - MAX_AGENTS_SHOWN


def test_responders_sorted_with_time_to_acknowledge():
    event = load_event("alert_notification_trigger")
    start = event.alert.date_start
    people = responders(start, (BOB, "Bob", 5), (ALICE, "Alice", 2))
    view = make_view(event, DisplayState.ACKNOWLEDGED, people=people)
    context = alert_context(view)
    assert [r["name"] for r in context["responders"]] == ["Alice", "Bob"]
    assert context["responders"][0] == {
        "name": "Alice",
        "user_id": ALICE,
        "acknowledged_at": start + timedelta(minutes=2),
        "after_trigger": "2m",
        "after_trigger_seconds": 120,
    }
    assert context["time_to_acknowledge"] == "2m"
    assert context["responders_total"] == 2 and context["responders_more"] == 0


def test_time_to_acknowledge_uses_the_first_acknowledgement_ever():
    # Alice acknowledged after 1m and later withdrew; Bob (5m) remains.
    event = load_event("alert_notification_trigger")
    start = event.alert.date_start
    view = make_view(event, DisplayState.ACKNOWLEDGED, people=responders(start, (BOB, "Bob", 5)))
    from dataclasses import replace

    view = replace(view, first_acknowledged_at=start + timedelta(minutes=1))
    assert alert_context(view)["time_to_acknowledge"] == "1m"


def test_non_http_permalinks_are_dropped_from_the_context():
    payload = load_payload("alert_notification_trigger")
    payload["alert"]["permalink"] = "javascript:x"
    payload["alert"]["agents"][0]["permalink"] = "data:text/html,x"
    context = alert_context(make_view(parse_event(payload), DisplayState.TRIGGERED))
    assert context["permalink"] == "" and context["agents"][0]["permalink"] == ""


def test_event_context():
    context = event_context(load_event("webhook_test"))
    _assert_plain(context)
    assert context["event_type"] == "WEBHOOK_TEST" and context["event_id"] == "1415733887743"
    assert context["known"] is True and context["payload_truncated"] is False


def test_payload_excerpt_is_cut_and_code_fences_broken():
    text, truncated = payload_excerpt({"a": "```" + "x" * 5000})
    assert truncated and len(text) <= EXCERPT_LIMIT + 2 and text.endswith("\n…")
    assert "```" not in text


def _documented_keys() -> set[str]:
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "templates.md").read_text()
    return set(re.findall(r"`([a-z_]+)`", text))


@pytest.mark.parametrize("payload", ALERT_PAYLOADS)
def test_every_context_key_is_documented_in_docs_templates(payload):
    from bot.render.context import ack_note_context

    documented = _documented_keys()
    view = make_view(load_event(payload), DisplayState.ACKNOWLEDGED)
    context = ack_note_context(view, view.responders[0], True)
    missing = {key for key in context if key not in documented}
    for nested in ("agents", "responders"):
        for item in context[nested]:
            missing |= {f"{nested}.{key}" for key in item if key not in documented}
    missing |= {f"actions.{key}" for key in context["actions"] if key not in documented}
    assert missing == set()
    event = event_context(parse_event(load_payload("webhook_test")))
    assert {key for key in event if key not in documented} == set()
