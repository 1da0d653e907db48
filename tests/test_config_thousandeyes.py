"""THOUSANDEYES_TIMEZONE: read, validated, one clear line when wrong."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bot.config import Config, ConfigError
from bot.thousandeyes import parse_event
from tests.support.payloads import load_sample


def test_default_is_utc():
    config = Config.from_mapping({})
    assert config.thousandeyes_timezone is None
    options = config.parse_options()
    assert options.timezone == timezone.utc and not options.timezone_configured


def test_the_configured_zone_reaches_the_parser():
    config = Config.from_mapping({"THOUSANDEYES_TIMEZONE": " America/Chicago "})
    assert config.thousandeyes_timezone == "America/Chicago"
    alert = parse_event(load_sample("trigger"), config.parse_options()).alert
    assert alert.date_start == datetime(2014, 8, 24, 6, 1, 47, tzinfo=timezone.utc)


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
