"""REMINDER_AFTER, REMINDER_REPEAT and FLAP_WINDOW: read, validated, one clear line when wrong."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.config import Config, ConfigError


def test_defaults_no_reminders_and_a_ten_minute_flap_window():
    config = Config.from_mapping({})
    assert config.reminder_after is None and config.reminder_repeat == 1
    assert config.flap_window == timedelta(minutes=10)


def test_values_are_read():
    config = Config.from_mapping({"REMINDER_AFTER": "90s", "REMINDER_REPEAT": "3",
                                  "FLAP_WINDOW": "off"})
    assert config.reminder_after == timedelta(seconds=90) and config.reminder_repeat == 3
    assert config.flap_window is None
    assert Config.from_mapping({"FLAP_WINDOW": "15m"}).flap_window == timedelta(minutes=15)


@pytest.mark.parametrize("name, value, hint", [
    ("REMINDER_AFTER", "15", "needs a unit"),
    ("REMINDER_AFTER", "5s", "at least 1m"),
    ("REMINDER_REPEAT", "0", "between 1 and 10"),
    ("REMINDER_REPEAT", "many", "whole number"),
    ("FLAP_WINDOW", "soon", "not a duration"),
])
def test_a_wrong_value_is_one_line_naming_the_variable(name, value, hint):
    with pytest.raises(ConfigError) as raised:
        Config.from_mapping({name: value})
    [line] = str(raised.value).splitlines()[1:]
    assert line.strip().startswith(f"{name}: ") and hint in line
