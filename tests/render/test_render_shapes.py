"""Messages for payloads in the shapes real accounts send: what a reader sees in Slack."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.render import actions
from bot.render.context import ALERT_LIST_URL, alert_context
from bot.render.view import DisplayState
from bot.thousandeyes import ParseOptions, parse_event
from bot.thousandeyes.custom import parse_custom_event, to_classic_body
from tests.support.payloads import load_custom, load_sample, load_shape

from .helpers import all_text, assert_valid_message, buttons, make_view

UTC = UTC
SHAPES = ("agent_offline_trigger", "agent_offline_clear", "agent_rule_removed_clear",
          "http_server_est_trigger", "http_server_rule_removed_clear",
          "device_interface_trigger", "dns_unplaceable_trigger", "bgp_trigger", "bgp_clear")


def view_of(name: str, state: DisplayState, options: ParseOptions = ParseOptions(), **changes):
    return replace(make_view(parse_event(load_shape(name), options), state), **changes)


def date_tokens(message) -> list[int]:
    return [int(epoch) for epoch in re.findall(r"<!date\^(\d+)\^", all_text(message))]


@pytest.mark.parametrize("name", SHAPES)
@pytest.mark.parametrize("state", list(DisplayState))
def test_every_shape_renders_valid_messages_from_the_templates(renderer, name, state):
    view = view_of(name, state)
    messages = [renderer.render_parent(view), renderer.render_retrigger_note(view)]
    if state is DisplayState.CLEARED:
        messages.append(renderer.render_clear_reply(view))
    for message in messages:
        assert not message.fallback and message.warnings == ()
        assert_valid_message(message)


def test_agent_offline_parent_says_which_agent_and_where(renderer):
    message = renderer.render_parent(view_of("agent_offline_trigger", DisplayState.TRIGGERED))
    assert message.text == ("🔴 Triggered: Agent Offline - Branch Offices on chi-branch-07"
                            " (te-agent-chi07.corp.example, 10.42.7.19)")
    text = all_text(message)
    for expected in (
        "*Agent:* *chi-branch-07*",
        "*Hostname*\nte-agent-chi07.corp.example",
        "*IP address*\n10.42.7.19",
        "`Agent is offline for 5 minutes`",
        "*Metrics at start*\nLast contact: 2022-04-25 17:13:00 CDT",
        "*Severity*\nMAJOR",
    ):
        assert expected in text, expected
    assert "Test:" not in text and "—" not in text
    # 17:18 CDT is 22:18 UTC: the date token carries the true instant.
    assert date_tokens(message) == [1650925080]


def test_an_agent_alert_without_permalink_links_the_alert_list(renderer):
    message = renderer.render_parent(view_of("agent_offline_trigger", DisplayState.TRIGGERED))
    view_button = buttons(message)[actions.VIEW_IN_THOUSANDEYES]
    assert view_button["url"] == ALERT_LIST_URL
    assert view_button["text"]["text"] == "ThousandEyes alerts"
    cleared = renderer.render_parent(view_of("agent_offline_clear", DisplayState.CLEARED))
    assert buttons(cleared)[actions.VIEW_IN_THOUSANDEYES]["url"].endswith("alertId=918273645")


def test_old_style_agent_notifications_link_the_alert_list_too(renderer):
    view = make_view(parse_event(load_sample("agent-trigger")), DisplayState.TRIGGERED)
    message = renderer.render_parent(view)
    assert set(buttons(message)) == {actions.ACKNOWLEDGE, actions.VIEW_IN_THOUSANDEYES}


def test_agent_clear_reply_is_a_recovery_with_true_times(renderer):
    view = view_of("agent_offline_clear", DisplayState.CLEARED)
    reply = renderer.render_clear_reply(view)
    assert reply.text.startswith("✅ Cleared after 44m 30s: Agent Offline - Branch Offices"
                                 " on chi-branch-07")
    assert "*Metrics at end:* Agent is online" in all_text(reply)
    assert date_tokens(reply) == [1650927750]  # 18:02:30 CDT


def test_device_alert_parent_names_device_and_interface(renderer):
    message = renderer.render_parent(view_of("device_interface_trigger", DisplayState.TRIGGERED))
    text = all_text(message)
    assert "*Device:* *chi-core-sw01*" in text
    assert "*Interface*\nGigabitEthernet1/0/48" in text
    assert "*IP address*\n10.42.0.2" in text
    assert "Alert type" not in text  # "Device:" says it
    assert "Test:" not in text
    assert date_tokens(message) == [int(datetime(2022, 4, 26, 13, 5, tzinfo=UTC).timestamp())]


def test_est_test_alert_carries_the_true_instant_in_every_date_token(renderer):
    message = renderer.render_parent(view_of("http_server_est_trigger", DisplayState.TRIGGERED))
    # 23:43 EST is 04:43 UTC the next day; the second agent started a minute later.
    start = int(datetime(2022, 2, 18, 4, 43, tzinfo=UTC).timestamp())
    assert date_tokens(message) == [start, start, start + 60]
    assert "|2022-02-18 04:43 UTC>" in all_text(message)


@pytest.mark.parametrize("name", ["http_server_rule_removed_clear", "agent_rule_removed_clear"])
def test_active_2_reply_says_the_rule_changed_not_that_it_recovered(renderer, name):
    view = view_of(name, DisplayState.CLEARED)
    reply = renderer.render_clear_reply(view)
    text = all_text(reply)
    assert "rule was modified or removed" in text
    assert "Cleared" not in text and "recovered" not in reply.text.lower()
    assert reply.text.startswith("⚪ Closed")
    parent = renderer.render_parent(view)
    assert parent.text.startswith("⚪ Closed: ")
    assert "*Status*\n⚪ Closed" in all_text(parent)
    assert actions.ACKNOWLEDGE not in buttons(parent)


def test_every_alert_type_is_labelled_in_the_parent(renderer):
    sent_and_shown = [("DNS+ Server", "DNS+ Server"), ("web-transactions", "Transaction"),
                      ("End-to-End (Server)", "Network (end-to-end)"), ("Voice", "Voice"),
                      ("FTP Server", "FTP"), ("Mystery Probe", "Mystery Probe")]
    for sent, shown in sent_and_shown:
        payload = load_sample("trigger")
        payload["alert"]["type"] = sent
        view = make_view(parse_event(payload), DisplayState.TRIGGERED)
        assert f"*Alert type*\n{shown}" in all_text(renderer.render_parent(view)), sent


def test_bgp_alerts_are_seen_by_monitors(renderer):
    payload = load_sample("trigger")
    payload["alert"]["type"] = "BGP"
    text = all_text(renderer.render_parent(make_view(parse_event(payload), DisplayState.TRIGGERED)))
    assert "*BGP monitors* (2)" in text


def test_a_start_that_cannot_be_placed_shows_the_time_received_and_says_so(renderer):
    received = datetime(2022, 6, 1, 16, 0, 5, tzinfo=UTC)
    view = view_of("dns_unplaceable_trigger", DisplayState.TRIGGERED, first_seen_at=received,
                   triggered_at=None)
    message = renderer.render_parent(view)
    text = all_text(message)
    assert f"<!date^{int(received.timestamp())}^" in text
    assert "time received" in text and "2022-06-01 09:00:00 XYZT" in text
    assert "THOUSANDEYES_TIMEZONE" in text
    # Never silently UTC: no token anywhere for 09:00 taken as UTC.
    assert int(datetime(2022, 6, 1, 9, tzinfo=UTC).timestamp()) not in date_tokens(message)


def test_a_missing_start_shows_the_time_received_and_says_so(renderer):
    payload = load_sample("trigger")
    del payload["alert"]["dateStart"]
    received = datetime(2024, 5, 1, 12, tzinfo=UTC)
    view = replace(make_view(parse_event(payload), DisplayState.TRIGGERED),
                   first_seen_at=received, triggered_at=None)
    text = all_text(renderer.render_parent(view))
    assert "time received: ThousandEyes sent no start time" in text


def test_with_the_zone_configured_the_unplaceable_date_is_placed(renderer):
    view = view_of("dns_unplaceable_trigger", DisplayState.TRIGGERED,
                   ParseOptions.for_timezone("America/Chicago"))
    message = renderer.render_parent(view)
    assert "time received" not in all_text(message)
    assert int(datetime(2022, 6, 1, 14, tzinfo=UTC).timestamp()) in date_tokens(message)


def test_custom_static_keys_are_shown_as_notes(renderer):
    text = all_text(renderer.render_parent(view_of("http_server_est_trigger",
                                                   DisplayState.TRIGGERED)))
    assert "📝 Page the payments on-call if this lasts 10 minutes" in text
    assert "📝 *runbook:* https://wiki.shop.example/runbooks/checkout-api" in text


def test_notes_are_escaped_like_every_payload_value(renderer):
    payload = load_shape("http_server_est_trigger")
    payload["alert"]["text"] = "<!channel> \"quoted\" & <https://evil.example|click>"
    message = renderer.render_parent(make_view(parse_event(payload), DisplayState.TRIGGERED))
    assert_valid_message(message)  # no live <!channel>, no raw link token
    assert "&lt;!channel&gt; \"quoted\" &amp; &lt;https://evil.example|click&gt;" in all_text(message)


def test_mis_decoded_text_is_shown_as_received(renderer):
    message = renderer.render_parent(view_of("http_server_est_trigger", DisplayState.TRIGGERED))
    text = all_text(message)
    assert "SÃ£o Paulo, Brazil" in text and "1204 ms â€” over threshold" in text


def test_mis_decoded_control_characters_never_break_the_message(renderer):
    payload = load_shape("http_server_est_trigger")
    payload["alert"]["testName"] = "caf\u00c3\u00a9 \u0080\u009f\ufffd test"
    message = renderer.render_parent(make_view(parse_event(payload), DisplayState.TRIGGERED))
    assert not message.fallback
    assert_valid_message(message)
    assert "caf\u00c3\u00a9 \u0080\u009f\ufffd test" in message.text


def test_names_are_trimmed_so_bold_stays_bold(renderer):
    text = all_text(renderer.render_parent(view_of("agent_offline_trigger",
                                                   DisplayState.TRIGGERED)))
    assert "*chi-branch-07*" in text and "chi-branch-07 *" not in text


def test_a_stale_alert_says_there_was_no_news_and_stays_acknowledgeable(renderer):
    last = datetime(2022, 4, 25, 22, 18, 4, tzinfo=UTC)
    view = view_of("agent_offline_trigger", DisplayState.TRIGGERED, last_event_at=last,
                   stale_since=last + timedelta(hours=24))
    message = renderer.render_parent(view)
    text = all_text(message)
    assert f"No news from ThousandEyes since <!date^{int(last.timestamp())}^" in text
    assert "sends a clear only when the alert rule asks for one" in text
    assert actions.ACKNOWLEDGE in buttons(message)
    context = alert_context(view)
    assert context["is_stale"] and context["last_event_at"] == last
    # Once cleared, it is no longer stale.
    cleared = view_of("agent_offline_clear", DisplayState.CLEARED, last_event_at=last,
                      stale_since=last + timedelta(hours=24))
    assert "No news" not in all_text(renderer.render_parent(cleared))


def test_docs_templates_documents_every_key_of_today_s_shapes():
    from tests.render.test_render_context import _documented_keys

    documented = _documented_keys()
    for shape in ("http_server_est_trigger", "agent_offline_trigger", "device_interface_trigger"):
        keys = set(alert_context(view_of(shape, DisplayState.TRIGGERED)))
        assert keys <= documented, sorted(keys - documented)


def test_a_bgp_parent_lists_its_monitors_like_agents(renderer):
    message = renderer.render_parent(view_of("bgp_trigger", DisplayState.TRIGGERED))
    assert_valid_message(message)
    text = all_text(message)
    assert "*BGP monitors* (2)" in text
    for expected in ("Seattle, WA-1", "(Level 3 Communications, Inc. (AS 3356))",
                     "prefix 203.0.113.0/24", "Origin ASN: 64511; Reachability: 100%",
                     "monitorId=61", "Frankfurt, Germany-3", "Reachability: 0%"):
        assert expected in text, expected
    assert "ruleAid" not in text and "📝" not in text


def test_a_cleared_bgp_parent_shows_each_monitors_metrics_at_start_and_end(renderer):
    text = all_text(renderer.render_parent(view_of("bgp_clear", DisplayState.CLEARED)))
    assert "Origin ASN: 64511; Reachability: 100% → Origin ASN: 64500; Reachability: 100%" in text
    assert "Reachability: 0% → Reachability: 100%" in text


V7_TYPES = ("endpoint-network-server", "endpoint-http-server", "endpoint-path-trace",
            "endpoint-browser-sessions-agent", "endpoint-browser-sessions-application", "api",
            "web-transaction", "network-outage", "application-outage")


@pytest.mark.parametrize("alert_type", V7_TYPES)
@pytest.mark.parametrize("state", [DisplayState.TRIGGERED, DisplayState.CLEARED])
def test_endpoint_api_and_outage_alerts_render_within_block_kit_limits(renderer, alert_type,
                                                                        state):
    body = load_custom("generic_trigger" if state is DisplayState.TRIGGERED else "generic_clear")
    body["alert"]["type"] = alert_type
    view = make_view(parse_event(to_classic_body(parse_custom_event(body))), state)
    for message in (renderer.render_parent(view), renderer.render_clear_reply(view)
                    if state is DisplayState.CLEARED else renderer.render_retrigger_note(view)):
        assert not message.fallback and message.warnings == ()
        assert_valid_message(message)
    assert f"*Alert type*\n{alert_type}" not in all_text(renderer.render_parent(view))
