"""The API link built from the configuration: base URL, bearer token, account group, no
retries inside the SDK, a deadline per call; and what each failure is called."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from bot.config import Config, ConfigError
from bot.thousandeyes.api_client import build_api
from bot.thousandeyes.api_errors import API_ERRORS, ApiProblem, classify
from tests.support.fake_thousandeyes import TOKEN, Operation
from tests.support.thousandeyes_account import agent


def linked(fake, **settings) -> Config:
    return Config(thousandeyes_api_token=TOKEN, thousandeyes_api_url=fake.url, **settings)


def failure_of(call):
    with pytest.raises(API_ERRORS) as raised:
        call()
    return classify(raised.value)


def test_no_token_no_link():
    assert build_api(Config()) is None


def test_the_link_sends_the_token_and_account_group_to_the_configured_url(fake_thousandeyes):
    account = fake_thousandeyes.account
    test = account.add_test("api.example.com", "http-server")
    rule = account.add_rule("Default HTTP Alert Rule", "http-server", tests=[test])
    alert = account.add_alert(rule, test, [agent("Frankfurt, Germany")])
    api = build_api(linked(fake_thousandeyes, thousandeyes_account_group="1234"))
    try:
        listed = api.alerts.get_alerts(aid=api.aid, _request_timeout=api.timeout)
    finally:
        api.close()
    assert [a.id for a in listed.alerts] == [alert.alert_id]
    [call] = fake_thousandeyes.calls_to(Operation.GET_ALERTS)
    assert call.token == TOKEN and call.query["aid"] == ["1234"]


def test_a_429_reaches_the_caller_at_once_with_its_reset(fake_thousandeyes):
    fake_thousandeyes.fail(Operation.GET_ALERTS, 429, reset_in=40)
    api = build_api(linked(fake_thousandeyes))
    started = time.monotonic()
    failure = failure_of(lambda: api.alerts.get_alerts(_request_timeout=api.timeout))
    assert time.monotonic() - started < 5  # the SDK's default would sleep 40 s and retry
    assert failure.problem is ApiProblem.RATE_LIMITED and failure.retryable
    waited = (failure.reset_at - datetime.now(UTC)).total_seconds()
    assert 35 <= waited <= 41
    assert len(fake_thousandeyes.calls_to(Operation.GET_ALERTS)) == 1
    assert failure.summary().startswith("rate limited until ")


@pytest.mark.parametrize("status, problem, words", [
    (401, ApiProblem.UNAUTHORIZED, "unauthorized (401) — check THOUSANDEYES_API_TOKEN"),
    (403, ApiProblem.FORBIDDEN, "forbidden (403)"),
    (503, ApiProblem.UNREACHABLE, "unreachable (503)"),
    (400, ApiProblem.REJECTED, "refused the request (400)"),
])
def test_each_refusal_is_named_with_its_fix(fake_thousandeyes, status, problem, words):
    fake_thousandeyes.fail(Operation.GET_ALERTS, status)
    api = build_api(linked(fake_thousandeyes))
    failure = failure_of(lambda: api.alerts.get_alerts(_request_timeout=api.timeout))
    assert failure.problem is problem and failure.status == status
    assert failure.summary().startswith(words)
    assert TOKEN not in failure.summary()


def test_a_stalled_or_refused_api_is_unreachable_after_one_try(fake_thousandeyes):
    fake_thousandeyes.stall(Operation.GET_ALERTS)
    api = build_api(linked(fake_thousandeyes))
    stalled = failure_of(lambda: api.alerts.get_alerts(_request_timeout=0.2))
    fake_thousandeyes.release()
    fake_thousandeyes.go_down("refuse")
    refused = failure_of(lambda: api.alerts.get_alerts(_request_timeout=api.timeout))
    assert (stalled.problem, stalled.detail) == (ApiProblem.UNREACHABLE, "timed out")
    assert (refused.problem, refused.detail) == (ApiProblem.UNREACHABLE, "connection refused")
    assert len(fake_thousandeyes.calls_to(Operation.GET_ALERTS)) == 1


def test_the_settings_are_read_and_checked():
    config = Config.from_mapping({"THOUSANDEYES_API_TOKEN": TOKEN,
                                  "THOUSANDEYES_API_URL": "https://api.example.net/v7/",
                                  "THOUSANDEYES_ACCOUNT_GROUP": " 1234 ",
                                  "THOUSANDEYES_SYNC_INTERVAL": "30s"})
    assert (config.thousandeyes_api_url, config.thousandeyes_account_group) == (
        "https://api.example.net/v7", "1234")
    assert config.thousandeyes_sync_interval.total_seconds() == 30
    assert config.describe()["thousandeyes_api_token"] == "set"
    assert TOKEN not in repr(config)
    defaults = Config.from_mapping({})
    assert defaults.thousandeyes_api_token is None
    assert defaults.thousandeyes_api_url == "https://api.thousandeyes.com/v7"
    assert defaults.thousandeyes_sync_interval.total_seconds() == 300


@pytest.mark.parametrize("name, value, words", [
    ("THOUSANDEYES_SYNC_INTERVAL", "5s", "at least 10s"),
    ("THOUSANDEYES_SYNC_INTERVAL", "often", "a duration like"),
    ("THOUSANDEYES_API_URL", "http://api.example.net/v7", "must be an https URL"),
    ("THOUSANDEYES_API_URL", "api.thousandeyes.com", "must be an http(s) URL"),
    ("THOUSANDEYES_ACCOUNT_GROUP", "Production", "account group id"),
    ("THOUSANDEYES_API_TOKEN", "short", "at least 16 characters"),
])
def test_a_wrong_setting_is_one_line_naming_it(name, value, words):
    with pytest.raises(ConfigError) as refused:
        Config.from_mapping({name: value})
    [line] = str(refused.value).splitlines()[1:]
    assert line.strip().startswith(f"{name}: ") and words in line
    assert name != "THOUSANDEYES_API_TOKEN" or value not in line
