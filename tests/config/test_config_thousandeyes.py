"""THOUSANDEYES_TIMEZONE and STALE_AFTER: read, validated, one clear line when wrong."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.config import Config, ConfigError, parse_duration
from bot.thousandeyes import parse_event
from tests.support.payloads import load_sample


def test_defaults_are_utc_and_no_staleness():
    config = Config.from_mapping({})
    assert config.thousandeyes_timezone is None and config.stale_after is None
    options = config.parse_options()
    assert options.timezone == UTC and not options.timezone_configured


def test_the_configured_zone_reaches_the_parser():
    config = Config.from_mapping({"THOUSANDEYES_TIMEZONE": " America/Chicago "})
    assert config.thousandeyes_timezone == "America/Chicago"
    alert = parse_event(load_sample("trigger"), config.parse_options()).alert
    assert alert.date_start == datetime(2014, 8, 24, 6, 1, 47, tzinfo=UTC)


@pytest.mark.parametrize("value, hint", [
    ("America/Chicgo", "did you mean America/Chicago?"),
    ("CDT", "IANA timezone name"),
    ("EST", "America/New_York"),
])
def test_a_wrong_timezone_is_one_line_naming_the_variable(value, hint):
    with pytest.raises(ConfigError) as error:
        Config.from_mapping({"THOUSANDEYES_TIMEZONE": value})
    [line] = str(error.value).splitlines()[1:]
    assert line.strip().startswith("THOUSANDEYES_TIMEZONE: ") and hint in line


@pytest.mark.parametrize("text, expected", [
    ("24h", timedelta(hours=24)), ("90m", timedelta(minutes=90)), ("45s", timedelta(seconds=45)),
    ("2d", timedelta(days=2)), ("1h30m", timedelta(hours=1, minutes=30)),
    ("1d 12h", timedelta(days=1, hours=12)), (" 15M ", timedelta(minutes=15)),
])
def test_durations_read_as_people_write_them(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["24", "h", "", "1 hour", "-5m", "1.5h", "5m5m", "10x"])
def test_what_is_not_a_duration_is_refused(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_stale_after_is_a_duration_or_off():
    assert Config.from_mapping({"STALE_AFTER": "24h"}).stale_after == timedelta(hours=24)
    assert Config.from_mapping({"STALE_AFTER": "off"}).stale_after is None
    assert Config.from_mapping({"STALE_AFTER": "0"}).stale_after is None


@pytest.mark.parametrize("value, hint", [
    ("24", "needs a unit, like 24h, 90m or 45s"),
    ("soon", "a duration like 24h, 90m or 45s"),
    ("10s", "at least 1m"),
])
def test_a_wrong_stale_after_is_one_line_naming_the_variable(value, hint):
    with pytest.raises(ConfigError) as error:
        Config.from_mapping({"STALE_AFTER": value})
    [line] = str(error.value).splitlines()[1:]
    assert line.strip().startswith("STALE_AFTER: ") and hint in line


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as error:
        Config.from_mapping({"STALE_AFTER": "soon", "THOUSANDEYES_TIMEZONE": "Nowhere"})
    assert "STALE_AFTER" in str(error.value) and "THOUSANDEYES_TIMEZONE" in str(error.value)
