"""Payloads in the shapes real accounts send today, not only the knowledge-base samples."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from thousandeyes_sdk.alerts.models import AlertType

from bot.store.ingest import alert_payload
from bot.thousandeyes import AgentAlert, AlertKind, TestAlert, Transition, parse_event
from bot.thousandeyes.events import parse_stored_alert
from bot.thousandeyes.labels import alert_type_label
from tests.support.payloads import load_sample, load_shape

UTC = UTC


def test_agent_offline_in_todays_shape_is_an_agent_alert():
    event = parse_event(load_shape("agent_offline_trigger"))
    alert = event.alert
    assert event.transition is Transition.TRIGGER
    assert isinstance(alert, AgentAlert) and event.alert_kind is AlertKind.AGENT
    assert alert.subject == "agent"
    assert (alert.agent_id, alert.agent_name) == ("771204", "chi-branch-07")
    assert (alert.hostname, alert.ip_address) == ("te-agent-chi07.corp.example", "10.42.7.19")
    assert alert.rule_name == "Agent Offline - Branch Offices"  # trailing spaces trimmed
    assert alert.rule_expression == "Agent is offline for 5 minutes"
    assert alert.metrics_at_start == "Last contact: 2022-04-25 17:13:00 CDT"
    assert alert.date_start == datetime(2022, 4, 25, 22, 18, tzinfo=UTC)
    assert alert.severity == "MAJOR" and alert.alert_type == "Agent"
    assert alert.permalink == ""


def test_agent_trigger_and_clear_share_their_key_although_notification_ids_differ():
    trigger = parse_event(load_shape("agent_offline_trigger"))
    clear = parse_event(load_shape("agent_offline_clear"))
    assert clear.transition is Transition.CLEAR
    # Both carry alertId 918273645; the duplicated agentAlert objects carry different
    # agentNotificationIds (55021877, 55021903), so only alertId can correlate them.
    assert trigger.alert.key == clear.alert.key == "918273645"
    assert trigger.key_kind == clear.key_kind == AlertKind.TEST  # alertId's id family
    assert clear.alert.date_end == datetime(2022, 4, 25, 23, 2, 30, tzinfo=UTC)
    assert clear.alert.metrics_at_end == "Agent is online"
    assert clear.alert.permalink.endswith("alertId=918273645")


def test_the_agent_alert_duplicate_fills_what_the_alert_level_lacks():
    payload = load_shape("agent_offline_clear")
    for name in ("hostname", "ipAddress", "metricsAtEnd"):
        del payload["alert"][name]
    alert = parse_event(payload).alert
    assert (alert.hostname, alert.ip_address) == ("te-agent-chi07.corp.example", "10.42.7.19")
    assert alert.metrics_at_end == "Agent is online"


def test_without_a_zoned_date_the_duplicates_epoch_gives_the_instant():
    payload = load_shape("agent_offline_trigger")
    del payload["alert"]["dateStartZoned"]  # "2022-04-25 17:18:00" alone is local time
    alert = parse_event(payload).alert
    assert alert.date_start == datetime(2022, 4, 25, 22, 18, tzinfo=UTC)


def test_an_agent_shaped_alert_without_type_is_still_an_agent_alert():
    payload = load_shape("agent_offline_trigger")
    del payload["alert"]["type"]
    assert isinstance(parse_event(payload).alert, AgentAlert)


def test_the_stored_alert_object_reads_back_the_same():
    for name in ("agent_offline_trigger", "agent_offline_clear", "device_interface_trigger",
                 "http_server_est_trigger"):
        event = parse_event(load_shape(name))
        stored = alert_payload(event)
        assert parse_stored_alert(event.key_kind, stored) == event.alert, name


def test_device_alerts_say_which_device_and_interface():
    alert = parse_event(load_shape("device_interface_trigger")).alert
    assert isinstance(alert, AgentAlert) and alert.subject == "device"
    assert alert.agent_name == "chi-core-sw01"
    assert alert.interface_name == "GigabitEthernet1/0/48"
    assert alert.ip_address == "10.42.0.2"
    assert alert.metrics_at_start == "Input Errors: 412 per minute"
    assert alert.key == "918300117"
    assert alert.date_start == datetime(2022, 4, 26, 13, 5, tzinfo=UTC)


def test_an_alert_type_naming_a_device_is_a_device_alert_without_device_object():
    payload = load_shape("device_interface_trigger")
    device = payload["alert"].pop("deviceAlert")
    payload["alert"].update({"type": "Device", "deviceName": device["deviceName"]})
    alert = parse_event(payload).alert
    assert alert.subject == "device" and alert.agent_name == "chi-core-sw01"


def test_active_2_on_a_clear_means_the_rule_changed():
    test_clear = parse_event(load_shape("http_server_rule_removed_clear")).alert
    agent_clear = parse_event(load_shape("agent_rule_removed_clear")).alert
    assert isinstance(test_clear, TestAlert) and test_clear.rule_changed
    assert test_clear.agents[0].rule_changed and test_clear.agents[0].active is False
    assert isinstance(agent_clear, AgentAlert) and agent_clear.rule_changed
    ordinary = parse_event(load_shape("agent_offline_clear")).alert
    assert not ordinary.rule_changed and not parse_event(load_sample("clear")).alert.rule_changed


def test_active_2_on_an_old_style_agent_notification():
    payload = load_sample("agent-clear")
    payload["agentAlert"]["active"] = "2"
    assert parse_event(payload).alert.rule_changed


def test_custom_static_keys_inside_alert_are_notes():
    alert = parse_event(load_shape("http_server_est_trigger")).alert
    assert alert.notes == (
        ("text", "Page the payments on-call if this lasts 10 minutes"),
        ("runbook", "https://wiki.shop.example/runbooks/checkout-api"),
    )


def test_thousandeyes_own_keys_are_never_notes():
    for name in ("agent_offline_trigger", "agent_offline_clear", "device_interface_trigger"):
        assert parse_event(load_shape(name)).alert.notes == (), name
    for name in ("trigger", "clear", "agent-trigger", "agent-clear"):
        assert parse_event(load_sample(name)).alert.notes == (), name


def test_only_text_values_are_notes_and_there_are_few():
    payload = load_sample("trigger")
    payload["alert"].update({"someNewField": {"nested": True}, "list": [1, 2], "flag": True,
                             "empty": "  ", "count": 3})
    payload["alert"].update({f"key{n}": f"value {n}" for n in range(20)})
    notes = parse_event(payload).alert.notes
    assert ("count", "3") in notes
    assert not {"someNewField", "list", "flag", "empty"} & {key for key, _ in notes}
    assert len(notes) == 10


def test_names_with_trailing_spaces_are_trimmed():
    alert = parse_event(load_shape("http_server_est_trigger")).alert
    assert alert.test_name == "checkout.shop.example HTTPS"
    assert alert.rule_name == "Checkout API availability"
    assert alert.agents[0].agent_name == "Ashburn, VA"


def test_mis_decoded_text_is_kept_as_received():
    alert = parse_event(load_shape("http_server_est_trigger")).alert
    assert alert.agents[1].agent_name == "SÃ£o Paulo, Brazil"
    assert alert.agents[1].metrics_at_start == "Response Time: 1204 ms â€” over threshold"


# Every alert type ThousandEyes sends, in the spellings seen (classic, API, custom webhooks).
TYPES = [
    ("Page Load", "Page Load"), ("page-load", "Page Load"),
    ("HTTP Server", "HTTP Server"), ("http-server", "HTTP Server"),
    ("Network", "Network"), ("End-to-End (Server)", "Network (end-to-end)"),
    ("end-to-end-server", "Network (end-to-end)"), ("Path Trace", "Network (path trace)"),
    ("End-to-End (Agent)", "Network (agent to agent)"),
    ("BGP", "BGP"),
    ("DNS+ Domain", "DNS+ Domain"), ("DNS+ Server", "DNS+ Server"),
    ("DNS Server", "DNS Server"), ("dns-server", "DNS Server"),
    ("DNS Trace", "DNS Trace"), ("DNSSEC", "DNSSEC"),
    ("Voice", "Voice"), ("RTP Stream", "Voice"),
    ("SIP Server", "SIP Server"),
    ("Transaction", "Transaction"), ("web-transactions", "Transaction"),
    ("FTP", "FTP"), ("FTP Server", "FTP"),
    ("Agent", "Agent"), ("Device", "Device"), ("Device Interface", "Device"),
]


@pytest.mark.parametrize("sent, label", TYPES)
def test_every_alert_type_has_a_readable_label(sent, label):
    assert alert_type_label(sent).label == label
    assert alert_type_label(sent).known


def test_unknown_alert_types_get_a_neutral_default():
    unknown = alert_type_label("Endpoint Experience  ")
    assert (unknown.label, unknown.known, unknown.subject) == ("Endpoint Experience", False, "test")
    assert alert_type_label("").label == "ThousandEyes alert"
    assert alert_type_label(None).label == "ThousandEyes alert"
    assert len(alert_type_label("x" * 500).label) <= 100


def test_who_saw_it_depends_on_the_type():
    assert alert_type_label("BGP").sources == "BGP monitors"
    assert alert_type_label("Page Load").sources == "Agents"
    assert alert_type_label("Agent").subject == "agent"
    assert alert_type_label("Device Interface").subject == "device"


def test_bgp_monitors_are_read_as_the_alerts_sources():
    alert = parse_event(load_shape("bgp_trigger")).alert
    assert isinstance(alert, TestAlert)
    seattle, frankfurt = alert.agents
    assert (seattle.agent_id, seattle.agent_name) == ("61", "Seattle, WA-1")
    assert seattle.location_name == "Level 3 Communications, Inc. (AS 3356)"
    assert seattle.prefix == "203.0.113.0/24"
    assert seattle.metrics_at_start == "Origin ASN: 64511; Reachability: 100%"
    assert seattle.permalink.endswith("monitorId=61")
    assert seattle.active is True
    assert seattle.date_start == datetime(2022, 3, 8, 9, 14, tzinfo=UTC)
    assert frankfurt.agent_name == "Frankfurt, Germany-3"
    clear = parse_event(load_shape("bgp_clear")).alert
    assert [m.metrics_at_end for m in clear.agents] == ["Origin ASN: 64500; Reachability: 100%",
                                                        "Reachability: 100%"]
    assert all(m.active is False for m in clear.agents)


def test_bgp_monitors_survive_storage():
    event = parse_event(load_shape("bgp_trigger"))
    stored = parse_stored_alert(AlertKind.TEST, alert_payload(event))
    assert [(m.agent_name, m.prefix) for m in stored.agents] == [
        ("Seattle, WA-1", "203.0.113.0/24"), ("Frankfurt, Germany-3", "203.0.113.0/24")]


def test_rule_aid_is_a_thousandeyes_field_not_a_users_note():
    assert parse_event(load_shape("bgp_trigger")).alert.notes == ()
    payload = load_shape("http_server_est_trigger")
    payload["alert"]["ruleAid"] = 203911
    notes = parse_event(payload).alert.notes
    assert "ruleAid" not in dict(notes) and "runbook" in dict(notes)


V7_TYPES = ("endpoint-network-server", "endpoint-http-server", "endpoint-path-trace",
            "endpoint-browser-sessions-agent", "endpoint-browser-sessions-application", "api",
            "web-transaction", "network-outage", "application-outage")


@pytest.mark.parametrize("sent", [t.value for t in AlertType if t is not AlertType.UNKNOWN])
def test_every_v7_alert_type_of_the_sdk_has_a_readable_label(sent):
    label = alert_type_label(sent)
    assert label.known, sent
    assert label.label != sent


@pytest.mark.parametrize("sent", V7_TYPES)
def test_endpoint_api_and_outage_types_are_test_alerts_with_their_own_words(sent):
    label = alert_type_label(sent)
    assert label.label != sent and label.subject == "test"
