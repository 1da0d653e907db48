"""ThousandEyes custom webhooks: detection, parsing, our template, and the classic bridge."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.thousandeyes import (
    Event,
    ParseOptions,
    PayloadError,
    TestAlert,
    Transition,
    parse_event,
    parse_test_alert,
)
from bot.thousandeyes.custom import is_custom_webhook, parse_custom_event, to_classic_body
from bot.thousandeyes.samples import SAMPLES, load_sample
from tests.support.payloads import load_custom, with_changes

UTC = UTC
ROOT = Path(__file__).resolve().parents[2]
CUSTOM_DIR = ROOT / "tests" / "fixtures" / "custom"
TEMPLATE = ROOT / "docs" / "custom-webhook-template.hbs"
TRIGGERED = datetime(2024, 3, 14, 10, 15, tzinfo=UTC)
CLEARED = datetime(2024, 3, 14, 10, 27, 30, tzinfo=UTC)
VALID_FIXTURES = sorted(
    p.stem for p in CUSTOM_DIR.glob("*.json")
    if not p.stem.startswith(("notification_", "malformed", "presets"))
)


# --- a tiny Handlebars subset, enough to render docs/custom-webhook-template.hbs ------
# Supports {{path}}, {{formatExpression path}} (identity here: ThousandEyes' helper makes
# the expression readable), {{#each path}}…{{/each}} and {{#unless @last}}…{{/unless}}.
# Anything else fails loudly, so the template cannot drift into untested constructs.

_TAG = re.compile(r"\{\{(.*?)\}\}", re.S)
_HTML_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;",
                 "`": "&#x60;", "=": "&#x3D;"}


def _parse(tokens: list[str], pos: int = 0, closing: str | None = None) -> tuple[list, int]:
    nodes: list = []
    while pos < len(tokens):
        text, tag = tokens[pos], tokens[pos + 1] if pos + 1 < len(tokens) else None
        nodes.append(("text", text))
        pos += 2
        if tag is None:
            break
        tag = tag.strip()
        if tag.startswith("#"):
            helper, _, arg = tag[1:].partition(" ")
            if helper not in ("each", "unless"):
                raise AssertionError(f"unsupported block helper {{{{#{helper}}}}}")
            body, pos = _parse(tokens, pos, helper)
            nodes.append((helper, arg.strip(), body))
        elif tag.startswith("/"):
            if tag[1:] != closing:
                raise AssertionError(f"unexpected {{{{{tag}}}}}")
            return nodes, pos
        else:
            parts = tag.split()
            if len(parts) == 2 and parts[0] == "formatExpression":
                nodes.append(("var", parts[1]))
            elif len(parts) == 1 and re.fullmatch(r"[A-Za-z_][\w.]*", parts[0]):
                nodes.append(("var", parts[0]))
            else:
                raise AssertionError(f"unsupported expression {{{{{tag}}}}}")
    if closing is not None:
        raise AssertionError(f"{{{{#{closing}}}}} is never closed")
    return nodes, pos


def _lookup(context: Any, path: str) -> Any:
    for part in path.split("."):
        context = context.get(part) if isinstance(context, dict) else None
    return context


def _render(nodes: list, context: Any, data: dict[str, Any], escape: bool) -> str:
    out = []
    for node in nodes:
        if node[0] == "text":
            out.append(node[1])
        elif node[0] == "var":
            value = _lookup(context, node[1])
            text = "" if value is None else str(value)
            out.append("".join(_HTML_ESCAPES.get(c, c) for c in text) if escape else text)
        elif node[0] == "each":
            items = _lookup(context, node[1]) or []
            for index, item in enumerate(items):
                out.append(_render(node[2], item, {"last": index == len(items) - 1}, escape))
        elif node[0] == "unless":
            assert node[1] == "@last", "only {{#unless @last}} is supported"
            if not data.get("last"):
                out.append(_render(node[2], context, data, escape))
    return "".join(out)


def render_template(notification: dict[str, Any], *, escape_html: bool = False) -> str:
    """Render our template. ``escape_html=False`` is what ThousandEyes documents for
    payloads; ``True`` is standard Handlebars' ``{{ }}`` behaviour."""
    tokens = _TAG.split(TEMPLATE.read_text(encoding="utf-8"))
    nodes, _ = _parse(tokens)
    return _render(nodes, notification, {}, escape_html)


# --- detection ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_classic_samples_are_not_custom(name):
    assert not is_custom_webhook(load_sample(name))


@pytest.mark.parametrize("name", VALID_FIXTURES)
def test_custom_fixtures_are_detected(name):
    assert is_custom_webhook(load_custom(name))


@pytest.mark.parametrize(
    "body, expected",
    [
        ({"type": "2", "alert": {"id": "1"}}, True),
        ({"alert": {"id": "1"}}, True),  # broken custom body: gets custom-parser errors
        ({"type": "2"}, True),
        ({"eventType": "ALERT_NOTIFICATION_TRIGGER", "eventId": "1", "alert": {}}, False),
        ({"eventType": "ALERT_NOTIFICATION_SUPPRESSED", "type": 2, "alert": {}}, False),
        ({"eventId": "1"}, False),
        ({}, False),
        ([], False),
        ("text", False),
        (None, False),
    ],
)
def test_detection_rules(body, expected):
    assert is_custom_webhook(body) is expected


# --- the Generic preset -------------------------------------------------------------


def test_generic_trigger_and_clear_correlate_on_alert_id():
    trigger = parse_custom_event(load_custom("generic_trigger"))
    clear = parse_custom_event(load_custom("generic_clear"))
    assert isinstance(trigger, Event) and isinstance(trigger.alert, TestAlert)
    assert trigger.event_type == "ALERT_NOTIFICATION_TRIGGER" and trigger.known
    assert clear.event_type == "ALERT_NOTIFICATION_CLEAR"
    assert (trigger.transition, clear.transition) == (Transition.TRIGGER, Transition.CLEAR)
    assert trigger.alert.key == clear.alert.key == "0e4b7a52-8c1f-4d3e-9b7a-5f0c2d1e8a63"
    assert trigger.event_id == "7a1c9e2b-4f3d-4b8e-9c21-0d5e6f7a8b90:trigger"
    assert clear.event_id == "c3d2e1f0-9a8b-4c7d-8e6f-5a4b3c2d1e0f:clear"
    assert trigger.raw == load_custom("generic_trigger")


def test_generic_trigger_fields():
    alert = parse_custom_event(load_custom("generic_trigger")).alert
    assert alert.severity == "MAJOR"
    assert alert.alert_type == "http-server"
    assert alert.rule_id == "562949955720954"
    assert alert.rule_name == "Default HTTP Alert Rule"
    assert alert.rule_expression.startswith("((Error Type is any)")
    assert alert.test_name == "api.example.com health" and alert.test_id is None
    assert alert.test_labels == ("prod", "payments")
    assert alert.test_targets_description == ("https://api.example.com/health",)
    assert alert.date_start == TRIGGERED and alert.date_end is None
    assert alert.permalink == ""  # the Generic preset sends no link
    assert [(a.agent_id, a.agent_name) for a in alert.agents] == [
        ("4492", "Frankfurt, Germany"), ("4503", "Hong Kong")]
    assert alert.agents[0].metrics_at_start == "Response Code: 502"
    assert alert.agents[1].metrics_at_end == ""  # {{#if metricsAtEnd}} left it out


def test_generic_clear_has_end_date_and_final_metrics():
    alert = parse_custom_event(load_custom("generic_clear")).alert
    assert alert.date_start == TRIGGERED and alert.date_end == CLEARED
    assert [a.metrics_at_end for a in alert.agents] == ["Response Code: 200"] * 2


def test_generic_without_test_targets_or_severity():
    alert = parse_custom_event(load_custom("generic_no_test_trigger")).alert
    assert alert.test_name == "" and alert.test_labels == () and alert.test_targets_description == ()
    assert alert.severity is None
    assert alert.agents[0].agent_name == "Tokyo-3"
    assert alert.agents[0].location_name == "AS 2497 (Internet Initiative Japan)"


# --- our template -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["trigger", "clear"])
def test_template_renders_to_the_fixture(name):
    rendered = json.loads(render_template(load_custom(f"notification_{name}")))
    assert rendered == load_custom(f"template_{name}")


def test_template_trigger_and_clear_parse():
    trigger = parse_custom_event(load_custom("template_trigger"))
    clear = parse_custom_event(load_custom("template_clear"))
    assert trigger.alert.key == clear.alert.key == "0e4b7a52-8c1f-4d3e-9b7a-5f0c2d1e8a63"
    assert (trigger.transition, clear.transition) == (Transition.TRIGGER, Transition.CLEAR)
    alert = trigger.alert
    assert alert.test_id == "562949953502258" and alert.rule_id == "562949955720954"
    assert alert.alert_type == "http-server" and alert.severity == "MAJOR"
    assert alert.date_start == TRIGGERED and alert.date_end is None  # "cleared": ""
    assert clear.alert.date_end == CLEARED
    assert alert.permalink == ("https://app.thousandeyes.com/alerts/list/?__a=562949953552543"
                               "&alertId=0e4b7a52-8c1f-4d3e-9b7a-5f0c2d1e8a63")
    assert alert.test_labels == ("prod", "payments")
    assert alert.test_targets_description == ("https://api.example.com/health",)
    assert [a.agent_name for a in alert.agents] == ["Frankfurt, Germany", "Hong Kong"]
    assert alert.agents[0].location_name == ""  # "asn": "" for agents


def _notification(**alert_changes: Any) -> dict[str, Any]:
    return with_changes(load_custom("notification_trigger"), **alert_changes)


@pytest.mark.parametrize(
    "notification",
    [
        _notification(details=[], targets=[], test=None),
        _notification(details=None, targets=None, rule=None, severity=None, firstSeen=None),
        _notification(details=[{"source": {"id": 61, "name": "Tokyo-3", "asn": {"name": "AS 2497"}}}],
                      targets=[{"description": "192.0.2.0/24"}]),
        _notification(test={"id": 1, "name": "one label", "labels": [{"name": "only"}]}),
    ],
    ids=["empty-collections", "nulls", "bgp-monitor", "single-items"],
)
@pytest.mark.parametrize("escape_html", [False, True], ids=["raw", "html-escaped"])
def test_template_renders_valid_json_for_any_alert(notification, escape_html):
    body = json.loads(render_template(notification, escape_html=escape_html))
    event = parse_custom_event(body)
    assert event.alert.key == "0e4b7a52-8c1f-4d3e-9b7a-5f0c2d1e8a63"
    assert event.transition is Transition.TRIGGER


def test_html_escaped_rendering_is_unescaped_by_the_parser():
    notification = _notification()
    notification["alert"]["test"]["name"] = 'checkout "v2" & <payments>'
    body = json.loads(render_template(notification, escape_html=True))
    assert body["alert"]["test"]["name"] == html.escape('checkout "v2" & <payments>')
    alert = parse_custom_event(body).alert
    assert alert.test_name == 'checkout "v2" & <payments>'
    assert "&amp;" not in alert.permalink and "&alertId=" in alert.permalink


# --- variations ---------------------------------------------------------------------


def test_numbers_epoch_seconds_label_objects_and_joined_targets():
    event = parse_custom_event(load_custom("variant_numbers"))
    alert = event.alert
    assert event.event_id == "1234567:trigger" and event.transition is Transition.TRIGGER
    assert alert.alert_id == "35541" and alert.test_id == "5370" and alert.rule_id == "173"
    assert alert.severity == "MAJOR"
    assert alert.date_start == TRIGGERED and alert.date_end is None
    assert alert.test_labels == ("prod", "web")
    assert alert.test_targets_description == ("https://www.example.com/", "https://cdn.example.com/")
    assert alert.agents[0].agent_id == "108"


def test_names_iso_dates_enumeration_objects_and_flat_keys():
    event = parse_custom_event(load_custom("variant_names_iso"))
    alert = event.alert
    assert event.transition is Transition.CLEAR and event.event_type == "ALERT_NOTIFICATION_CLEAR"
    assert alert.severity == "CRITICAL" and alert.alert_type == "http-server"
    assert alert.date_start == TRIGGERED and alert.date_end == CLEARED
    assert alert.permalink == "https://app.thousandeyes.com/alerts/list/?__a=11&alertId=a-77"
    assert alert.rule_name == "Checkout latency" and alert.rule_expression == "Response Time > 500 ms"
    assert alert.test_name == "checkout & payments" and alert.test_id == "9001"
    assert alert.test_labels == ("prod",)
    [agent] = alert.agents  # the string element is skipped
    assert (agent.agent_id, agent.agent_name) == ("4492", "Frankfurt, Germany")
    assert agent.location_name == "Frankfurt, Hesse, Germany"
    assert (agent.date_start, agent.date_end, agent.active) == (TRIGGERED, CLEARED, False)
    assert agent.permalink.endswith("&agentId=4492")


def test_epoch_objects_and_type_object():
    alert = parse_custom_event(load_custom("variant_epoch_objects")).alert
    assert alert.date_start == TRIGGERED and alert.date_end == CLEARED
    assert alert.alert_type == "dns-server" and alert.severity == "MINOR"
    assert alert.test_labels == ("prod", "dns")
    assert alert.agents[0].agent_name == "Sydney" and alert.agents[0].active is False


def test_minimal_body_gets_a_deterministic_derived_event_id():
    body = load_custom("variant_minimal")
    first, again = parse_custom_event(body), parse_custom_event(load_custom("variant_minimal"))
    assert first.event_id == again.event_id and first.event_id.startswith("custom-")
    clear = parse_custom_event({**body, "type": "1"})
    assert clear.event_id != first.event_id and clear.alert.key == first.alert.key == "42"
    alert = first.alert
    assert alert.severity is None and alert.date_start is None and alert.agents == ()
    assert alert.test_id is None and alert.test_name == ""


@pytest.mark.parametrize("value", [2, "2", " 2 ", 2.0, "Trigger", "TRIGGERED", {"id": 2},
                                   {"name": "Trigger"}, "ALERT_NOTIFICATION_TRIGGER"])
def test_trigger_type_spellings(value):
    assert parse_custom_event({"type": value, "alert": {"id": "a"}}).transition is Transition.TRIGGER


@pytest.mark.parametrize("value", [1, "1", "Clear", "cleared", {"id": "1"}])
def test_clear_type_spellings(value):
    assert parse_custom_event({"type": value, "alert": {"id": "a"}}).transition is Transition.CLEAR


@pytest.mark.parametrize("severity", ["info", "Info", " INFO ", {"id": "info"}])
def test_severity_is_upper_case(severity):
    body = {"type": "2", "alert": {"id": "a", "severity": severity}}
    assert parse_custom_event(body).alert.severity == "INFO"


@pytest.mark.parametrize("value", [1710411300, 1710411300000, "1710411300", "1710411300000",
                                   "2024-03-14T10:15:00Z", {"epochMilli": 1710411300000}])
def test_first_seen_in_seconds_millis_or_iso(value):
    body = {"type": "2", "alert": {"id": "a", "triggered": value}}
    assert parse_custom_event(body).alert.date_start == TRIGGERED


def test_unparseable_optional_values_do_not_lose_the_alert():
    body = {"type": "2", "alert": {"id": "a", "triggered": "yesterday", "cleared": 0,
                                   "violationCount": "many", "severity": 3}}
    alert = parse_custom_event(body).alert
    assert alert.date_start is None and alert.date_end is None
    assert alert.violation_count is None and alert.severity == "3"
    # The unreadable start is remembered as sent, also once stored in the classic shape,
    # so the message shows the time received and says why.
    assert alert.unplaced_dates == (("dateStart", "yesterday"),)
    stored = json.loads(json.dumps(to_classic_body(parse_custom_event(body))))
    assert parse_event(stored).alert.unplaced_dates == (("dateStart", "yesterday"),)


def test_local_times_without_zone_are_in_thousandeyes_timezone():
    body = {"type": "2", "alert": {"id": "a", "triggered": "2024-03-14 05:15:00"}}
    chicago = ParseOptions.for_timezone("America/Chicago")  # CDT since March 10th
    event = parse_custom_event(body, chicago)
    assert event.alert.date_start == TRIGGERED
    # Stored with its offset: read back in any zone, the same instant.
    stored = json.loads(json.dumps(to_classic_body(event)))
    assert parse_event(stored).alert.date_start == TRIGGERED


# --- malformed bodies ---------------------------------------------------------------


_MALFORMED = load_custom("malformed")["cases"]


@pytest.mark.parametrize("case", _MALFORMED, ids=[c["case"] for c in _MALFORMED])
def test_malformed_bodies_are_refused_naming_the_field(case):
    with pytest.raises(PayloadError) as error:
        parse_custom_event(case["body"])
    assert case["message"] in str(error.value)
    assert str(error.value).startswith("custom webhook: ")


# --- the bridge to the classic store ------------------------------------------------


@pytest.mark.parametrize("name", VALID_FIXTURES)
def test_classic_body_round_trips_through_the_classic_parser(name):
    event = parse_custom_event(load_custom(name))
    classic = json.loads(json.dumps(to_classic_body(event)))  # as stored: JSON text
    again = parse_event(classic)
    assert (again.event_type, again.event_id, again.transition) == (
        event.event_type, event.event_id, event.transition)
    assert again.alert == event.alert
    # what the store keeps and re-reads to render (bot.store.alerts.build_view)
    assert parse_test_alert(classic["alert"]) == event.alert
    assert classic["customWebhook"] == load_custom(name)


def test_classic_body_refuses_classic_events():
    with pytest.raises(ValueError):
        to_classic_body(parse_event(load_sample("test")))


# --- bodies of the chat and SIEM presets ----------------------------------------------


_PRESETS = load_custom("presets")["cases"]


@pytest.mark.parametrize("case", _PRESETS, ids=[c["preset"] for c in _PRESETS])
def test_a_chat_or_siem_preset_body_is_answered_with_one_line_naming_the_fix(case):
    assert is_custom_webhook(case["body"])
    with pytest.raises(PayloadError) as error:
        parse_custom_event(case["body"])
    message = str(error.value)
    assert "\n" not in message and len(message) < 300
    assert f"ThousandEyes' {case['preset']} preset" in message
    assert "Generic preset" in message and "docs/custom-webhook-template.hbs" in message
