"""The fake ThousandEyes API, driven by ThousandEyes' own SDK: what it answers is what
the SDK's models accept, field for field, so the fake cannot drift from the v7 spec.

Every answer is parsed by ``thousandeyes-sdk-alerts`` and then checked strictly: the
SDK's models accept unknown fields (``extra="allow"``) and map unknown enum values to
``unknown``, so a parse alone would let a made-up field or a misspelt state through.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

import pytest
from pydantic import BaseModel
from thousandeyes_sdk.alerts import AlertRulesApi, AlertsApi, AlertSuppressionWindowsApi
from thousandeyes_sdk.alerts.models import (
    AlertDetail,
    Alerts,
    AlertSuppressionWindowDetail,
    AlertSuppressionWindowRequest,
    Error,
    Repeat,
    Rules,
    UnauthorizedError,
    ValidationError,
)
from thousandeyes_sdk.core import ApiClient, Configuration
from thousandeyes_sdk.core.exceptions import (
    BadRequestException,
    ForbiddenException,
    NotFoundException,
    ServiceException,
    TooManyRequestsException,
    UnauthorizedException,
)
from thousandeyes_sdk.core.thousandeyes_retry import ThousandEyesRetry
from urllib3.exceptions import MaxRetryError, ReadTimeoutError

from tests.support.fake_thousandeyes import TOKEN, FakeThousandEyes, Operation
from tests.support.thousandeyes_account import UTC, agent, monitor

# What the service will configure: no retry inside the SDK (its default retries a 429
# after sleeping until the reset, and a timed-out GET three times), a timeout on every call.
NO_RETRIES = ThousandEyesRetry(total=0)
TIMEOUT = 5.0


@contextmanager
def sdk(fake: FakeThousandEyes, token: str = TOKEN,
        retries: ThousandEyesRetry | None = NO_RETRIES) -> Iterator[ApiClient]:
    with ApiClient(Configuration(host=fake.url, access_token=token, retries=retries)) as client:
        yield client


def assert_strict(model: BaseModel, where: str = "") -> None:
    """Every field the fake wrote is one the SDK's model declares, no enum value is the
    SDK's catch-all ``unknown``, every date says its zone; all the way down."""
    name = f"{type(model).__name__}{where}"
    assert not model.model_extra, f"{name} has fields the spec lacks: {sorted(model.model_extra)}"
    assert not getattr(model, "additional_properties", None), name
    for field_name, value in model:
        _assert_strict_value(value, f"{where}.{field_name}")


def _assert_strict_value(value: Any, where: str) -> None:
    if isinstance(value, BaseModel):
        assert_strict(value, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _assert_strict_value(item, f"{where}[{index}]")
    elif isinstance(value, Enum):
        assert value.value != "unknown", f"{where}: an enum value the SDK does not know"
    elif isinstance(value, datetime):
        assert value.tzinfo is not None, f"{where}: a date without its zone"


def http_alert(fake: FakeThousandEyes, **when: Any) -> Any:
    account = fake.account
    test = account.add_test("api.example.com health", "http-server")
    rule = account.add_rule("Default HTTP Alert Rule", "http-server", tests=[test])
    return account.add_alert(rule, test, [agent("Frankfurt, Germany", "Response Code: 502"),
                                          agent("Hong Kong", "Error Type: Connect")], **when)


def bgp_alert(fake: FakeThousandEyes) -> Any:
    account = fake.account
    test = account.add_test("203.0.113.0/24 routes", "bgp")
    rule = account.add_rule("Default BGP Alert Rule", "bgp", "((reachability < 100%))",
                            severity="minor", tests=[test])
    return account.add_alert(rule, test, [monitor("Seattle, WA-3356", "Reachability: 50%"),
                                          monitor("London-1299", "Path changes: 3")])


@pytest.mark.parametrize("legacy_fields", [False, True], ids=["v7", "with-deprecated-fields"])
def test_listed_alerts_are_what_the_sdks_models_accept(fake_thousandeyes, legacy_fields):
    fake_thousandeyes.legacy_fields = legacy_fields
    active, routing = http_alert(fake_thousandeyes), bgp_alert(fake_thousandeyes)
    cleared = http_alert(fake_thousandeyes, started_at=datetime.now(UTC) - timedelta(hours=1))
    fake_thousandeyes.account.clear(cleared)
    with sdk(fake_thousandeyes) as client:
        listed = AlertsApi(client).get_alerts(state="trigger", _request_timeout=TIMEOUT)
    assert isinstance(listed, Alerts)
    assert_strict(listed)
    assert [alert.id for alert in listed.alerts] == [active.alert_id, routing.alert_id]
    first = listed.alerts[0]
    assert uuid.UUID(first.id).version == 4
    assert (first.alert_type.value, first.alert_state.value, first.alert_severity.value) == (
        "http-server", "trigger", "major")
    assert first.alert_rule_id == active.rule.rule_id and first.violation_count == 2
    # A listed alert names its test only by link: the id is the link's last segment.
    assert first.links.test.href.rsplit("/", 1)[-1] == active.test.test_id
    assert first.start_date == active.started_at.replace(microsecond=0)
    assert first.end_date is None and first.suppressed is False
    if legacy_fields:
        assert (first.alert_id, first.state, first.severity, first.rule_id) == (
            active.alert_id, "ACTIVE", "MAJOR", int(active.rule.rule_id))


def test_cleared_alerts_are_listed_by_when_they_cleared(fake_thousandeyes):
    account, now = fake_thousandeyes.account, datetime.now(UTC)
    old = http_alert(fake_thousandeyes, started_at=now - timedelta(days=2))
    account.clear(old, at=now - timedelta(minutes=10))
    older = http_alert(fake_thousandeyes, started_at=now - timedelta(days=3))
    account.clear(older, at=now - timedelta(days=2))
    http_alert(fake_thousandeyes)  # still active: never in a list of cleared alerts
    with sdk(fake_thousandeyes) as client:
        api = AlertsApi(client)
        recent = api.get_alerts(state="clear", window="1h", _request_timeout=TIMEOUT)
        ranged = api.get_alerts(state="clear", start_date=now - timedelta(days=4),
                                end_date=now - timedelta(days=1), _request_timeout=TIMEOUT)
    assert_strict(recent)
    assert [a.id for a in recent.alerts] == [old.alert_id]
    assert recent.alerts[0].alert_state.value == "clear"
    assert recent.alerts[0].end_date == (now - timedelta(minutes=10)).replace(microsecond=0)
    assert [a.id for a in ranged.alerts] == [older.alert_id]


def test_an_alerts_details_carry_each_agents_metrics_at_start_and_end(fake_thousandeyes):
    alert = http_alert(fake_thousandeyes)
    with sdk(fake_thousandeyes) as client:
        active = AlertsApi(client).get_alert(alert.alert_id, _request_timeout=TIMEOUT)
        fake_thousandeyes.account.clear(alert, metrics_at_end="Response Code: 200")
        cleared = AlertsApi(client).get_alert(alert.alert_id, _request_timeout=TIMEOUT)
    assert isinstance(active, AlertDetail)
    assert_strict(active)
    assert_strict(cleared)
    assert [(d.name, d.type, d.state.value, d.start.metrics, d.end) for d in active.details] == [
        ("Frankfurt, Germany", "cea_agent", "trigger", "Response Code: 502", None),
        ("Hong Kong", "cea_agent", "trigger", "Error Type: Connect", None)]
    assert cleared.state.value == cleared.alert_state.value == "clear"
    assert [d.end.metrics for d in cleared.details] == ["Response Code: 200"] * 2
    assert cleared.end_date is not None


def test_bgp_and_outage_alerts_details_parse_too(fake_thousandeyes):
    routing = bgp_alert(fake_thousandeyes)
    account = fake_thousandeyes.account
    outage_rule = account.add_rule("Network outage", "network-outage", "((affectedTests > 0))")
    outage = account.add_alert(outage_rule, None, [agent("Ashburn, VA")],
                               asn=("13445", "Cisco Webex LLC"))
    with sdk(fake_thousandeyes) as client:
        api = AlertsApi(client)
        bgp_detail = api.get_alert(routing.alert_id, _request_timeout=TIMEOUT)
        outage_detail = api.get_alert(outage.alert_id, _request_timeout=TIMEOUT)
    for detail in (bgp_detail, outage_detail):
        assert_strict(detail)
    assert [(d.name, d.start.metrics) for d in bgp_detail.details] == [
        ("Seattle, WA-3356", "Reachability: 50%"), ("London-1299", "Path changes: 3")]
    assert bgp_detail.alert_severity.value == "minor"
    assert outage_detail.links.test is None
    assert (outage_detail.embedded.asn.id, outage_detail.embedded.asn.name) == (
        "13445", "Cisco Webex LLC")


def test_pagination_walks_every_page_once_following_the_next_cursor(fake_thousandeyes):
    start = datetime.now(UTC) - timedelta(hours=1)
    raised = [http_alert(fake_thousandeyes, started_at=start + timedelta(minutes=i))
              for i in range(7)]
    with sdk(fake_thousandeyes) as client:
        walked = list(AlertsApi(client).get_alerts_paginated(
            state="trigger", max=3, _request_timeout=TIMEOUT))
    assert [alert.id for alert in walked] == [alert.alert_id for alert in raised]
    pages = fake_thousandeyes.calls_to(Operation.GET_ALERTS)
    assert len(pages) == 3
    assert "cursor" not in pages[0].query
    assert pages[1].query["cursor"] != pages[2].query["cursor"]
    assert all(page.query["state"] == ["trigger"] and page.query["max"] == ["3"]
               for page in pages)


def test_an_alert_raised_between_pages_is_neither_lost_nor_listed_twice(fake_thousandeyes):
    start = datetime.now(UTC) - timedelta(hours=1)
    raised = [http_alert(fake_thousandeyes, started_at=start + timedelta(minutes=i))
              for i in range(4)]
    with sdk(fake_thousandeyes) as client:
        api = AlertsApi(client)
        first = api.get_alerts(max=2, _request_timeout=TIMEOUT)
        raised.append(http_alert(fake_thousandeyes))
        cursor = first.links.next.href.split("cursor=", 1)[1]
        rest = api.get_alerts(max=10, cursor=cursor, _request_timeout=TIMEOUT)
    assert_strict(first)
    assert rest.links.next is None
    assert [a.id for a in first.alerts + rest.alerts] == [a.alert_id for a in raised]


def test_a_suppression_window_for_a_test_is_created_suppresses_and_is_deleted(
        fake_thousandeyes):
    alert = http_alert(fake_thousandeyes)
    request = AlertSuppressionWindowRequest(
        name="Snoozed in Slack: api.example.com health", start_date=datetime.now(UTC),
        duration=3600, test_ids=[alert.test.test_id],
        repeat=Repeat(type="day", interval_type="day", interval_length=1))
    with sdk(fake_thousandeyes) as client:
        windows = AlertSuppressionWindowsApi(client)
        created = windows.create_alert_suppression_window(request, expand=["test"],
                                                          _request_timeout=TIMEOUT)
        listed = AlertsApi(client).get_alerts(_request_timeout=TIMEOUT)
        deleted = windows.delete_alert_suppression_window(
            created.alert_suppression_window_id, _request_timeout=TIMEOUT)
        with pytest.raises(NotFoundException) as again:
            windows.delete_alert_suppression_window(created.alert_suppression_window_id,
                                                    _request_timeout=TIMEOUT)
    assert isinstance(created, AlertSuppressionWindowDetail)
    assert_strict(created)
    assert (created.name, created.duration, created.status.value, created.is_enabled) == (
        "Snoozed in Slack: api.example.com health", 3600, "active", True)
    assert [t.test_id for t in created.tests] == [alert.test.test_id]
    assert listed.alerts[0].suppressed is True
    assert deleted is None and fake_thousandeyes.account.windows == {}
    assert again.value.status == 404 and isinstance(again.value.data, Error)
    sent = fake_thousandeyes.calls_to(Operation.CREATE_WINDOW)[0].body
    assert sent["testIds"] == [alert.test.test_id] and sent["duration"] == 3600


def test_a_window_for_an_unknown_test_is_refused_naming_the_field(fake_thousandeyes):
    request = AlertSuppressionWindowRequest(name="x", start_date=datetime.now(UTC),
                                            duration=600, test_ids=["999"])
    with sdk(fake_thousandeyes) as client, pytest.raises(BadRequestException) as refused:
        AlertSuppressionWindowsApi(client).create_alert_suppression_window(
            request, _request_timeout=TIMEOUT)
    assert isinstance(refused.value.data, ValidationError)
    assert_strict(refused.value.data)
    assert refused.value.data.errors[0].var_field == "testIds"
    assert fake_thousandeyes.account.windows == {}


def test_alert_rules_list_and_detail_name_the_rule_and_its_tests(fake_thousandeyes):
    alert = http_alert(fake_thousandeyes)
    with sdk(fake_thousandeyes) as client:
        rules = AlertRulesApi(client).get_alerts_rules(_request_timeout=TIMEOUT)
        rule = AlertRulesApi(client).get_alert_rule(alert.rule.rule_id, _request_timeout=TIMEOUT)
    assert isinstance(rules, Rules)
    assert_strict(rules)
    assert_strict(rule)
    assert [r.rule_name for r in rules.alert_rules] == ["Default HTTP Alert Rule"]
    assert (rule.rule_id, rule.alert_type.value, rule.test_ids) == (
        alert.rule.rule_id, "http-server", [alert.test.test_id])


def test_a_wrong_token_is_unauthorized_as_the_sdk_types_it(fake_thousandeyes):
    with sdk(fake_thousandeyes, token="revoked") as client, \
            pytest.raises(UnauthorizedException) as refused:
        AlertsApi(client).get_alerts(_request_timeout=TIMEOUT)
    assert refused.value.status == 401
    assert isinstance(refused.value.data, UnauthorizedError)
    assert refused.value.data.error == "invalid_token"
    assert fake_thousandeyes.calls[-1].token == "revoked"


def test_forbidden_account_group_and_window_changes_are_403(fake_thousandeyes):
    fake_thousandeyes.can_edit_windows = False
    alert = http_alert(fake_thousandeyes)
    request = AlertSuppressionWindowRequest(name="x", start_date=datetime.now(UTC),
                                            duration=600, test_ids=[alert.test.test_id])
    with sdk(fake_thousandeyes) as client:
        with pytest.raises(ForbiddenException) as other_group:
            AlertsApi(client).get_alerts(aid="999", _request_timeout=TIMEOUT)
        with pytest.raises(ForbiddenException) as not_admin:
            AlertSuppressionWindowsApi(client).create_alert_suppression_window(
                request, _request_timeout=TIMEOUT)
    for refused in (other_group.value, not_admin.value):
        assert refused.status == 403 and isinstance(refused.data, Error)
        assert_strict(refused.data)
    assert "Account Admins" in not_admin.value.data.detail
    assert fake_thousandeyes.account.windows == {}


def test_a_429_carries_the_reset_and_with_retries_off_the_sdk_does_not_wait(fake_thousandeyes):
    fake_thousandeyes.fail(Operation.GET_ALERTS, 429, reset_in=45)
    with sdk(fake_thousandeyes) as client, pytest.raises(TooManyRequestsException) as limited:
        AlertsApi(client).get_alerts(_request_timeout=TIMEOUT)
    headers = limited.value.headers
    now = datetime.now(UTC).timestamp()
    assert limited.value.status == 429 and isinstance(limited.value.data, Error)
    assert 40 <= int(headers["X-Organization-Rate-Limit-Reset"]) - now <= 46
    assert headers["X-Organization-Rate-Limit-Remaining"] == "0"
    assert len(fake_thousandeyes.calls_to(Operation.GET_ALERTS)) == 1


def test_the_sdks_default_retry_repeats_a_429_by_itself(fake_thousandeyes):
    # Why the service turns it off: by default the SDK sleeps until the reset and asks
    # again. A reset already past costs no sleep here, and shows the second call.
    fake_thousandeyes.fail(Operation.GET_ALERTS, 429, reset_in=0)
    with sdk(fake_thousandeyes, retries=None) as client:
        listed = AlertsApi(client).get_alerts(_request_timeout=TIMEOUT)
    assert listed.alerts == []
    assert [c.status for c in fake_thousandeyes.calls_to(Operation.GET_ALERTS)] == [429, 200]


def test_past_the_rate_limit_calls_are_refused_until_the_minute_resets(fake_thousandeyes):
    fake_thousandeyes.rate_limit = 2
    with sdk(fake_thousandeyes) as client:
        info = AlertsApi(client).get_alerts_with_http_info(_request_timeout=TIMEOUT)
        AlertsApi(client).get_alerts(_request_timeout=TIMEOUT)
        with pytest.raises(TooManyRequestsException) as limited:
            AlertsApi(client).get_alerts(_request_timeout=TIMEOUT)
    assert info.headers["X-Organization-Rate-Limit-Limit"] == "2"
    assert info.headers["X-Organization-Rate-Limit-Remaining"] == "1"
    reset = int(limited.value.headers["X-Organization-Rate-Limit-Reset"])
    assert 0 < reset - datetime.now(UTC).timestamp() <= 61


def test_server_errors_and_outages_are_service_exceptions(fake_thousandeyes):
    fake_thousandeyes.fail(Operation.GET_ALERT, 500)
    with sdk(fake_thousandeyes) as client:
        with pytest.raises(ServiceException) as failed:
            AlertsApi(client).get_alert(str(uuid.uuid4()), _request_timeout=TIMEOUT)
        fake_thousandeyes.go_down()
        with pytest.raises(ServiceException) as down:
            AlertsApi(client).get_alerts(_request_timeout=TIMEOUT)
        fake_thousandeyes.come_back()
        assert AlertsApi(client).get_alerts(_request_timeout=TIMEOUT).alerts == []
    assert failed.value.status == 500 and isinstance(failed.value.data, Error)
    assert down.value.status == 503


def test_a_window_made_before_its_answer_failed_exists(fake_thousandeyes):
    alert = http_alert(fake_thousandeyes)
    fake_thousandeyes.fail(Operation.CREATE_WINDOW, 500, done_anyway=True)
    request = AlertSuppressionWindowRequest(name="x", start_date=datetime.now(UTC),
                                            duration=600, test_ids=[alert.test.test_id])
    with sdk(fake_thousandeyes) as client, pytest.raises(ServiceException):
        AlertSuppressionWindowsApi(client).create_alert_suppression_window(
            request, _request_timeout=TIMEOUT)
    assert [w.test_ids for w in fake_thousandeyes.account.windows.values()] == [
        [alert.test.test_id]]


def test_a_stalled_or_unreachable_api_fails_fast_with_urllib3_errors(fake_thousandeyes):
    # The SDK wraps no transport error: a timeout or a refused connection reaches the
    # caller as urllib3's own exception, after one try with retries off.
    fake_thousandeyes.stall(Operation.GET_ALERTS)
    with sdk(fake_thousandeyes) as client:
        with pytest.raises(MaxRetryError) as stalled:
            AlertsApi(client).get_alerts(_request_timeout=0.2)
        fake_thousandeyes.release()
        fake_thousandeyes.go_down("refuse")
        with pytest.raises(MaxRetryError) as refused:
            AlertsApi(client).get_alerts(_request_timeout=TIMEOUT)
        fake_thousandeyes.come_back()
    assert isinstance(stalled.value.reason, ReadTimeoutError)
    assert len(fake_thousandeyes.calls_to(Operation.GET_ALERTS)) == 1
    assert "refused" in str(refused.value.reason).lower()


def test_bad_arguments_are_400s(fake_thousandeyes):
    naive = datetime(2026, 1, 1)
    with sdk(fake_thousandeyes) as client:
        api = AlertsApi(client)
        for arguments in ({"state": "open"}, {"window": "1h", "start_date": datetime.now(UTC)},
                          {"start_date": naive, "end_date": naive + timedelta(days=1)},
                          {"cursor": "not a cursor"}):
            with pytest.raises(BadRequestException):
                api.get_alerts(**arguments, _request_timeout=TIMEOUT)
    assert [c.status for c in fake_thousandeyes.calls_to(Operation.GET_ALERTS)] == [400] * 4
