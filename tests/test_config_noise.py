"""REMINDER_AFTER and REMINDER_REPEAT: read, validated, one clear line when wrong."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.config import Config, ConfigError


def test_defaults_no_reminders():
    config = Config.from_mapping({})
    assert config.reminder_after is None and config.reminder_repeat == 1


def test_values_are_read():
    config = Config.from_mapping({"REMINDER_AFTER": "90s", "REMINDER_REPEAT": "3"})
    assert config.reminder_after == timedelta(seconds=90) and config.reminder_repeat == 3


@pytest.mark.parametrize("name, value, hint", [
    ("REMINDER_AFTER", "15", "needs a unit"),
    ("REMINDER_AFTER", "5s", "at least 1m"),
    ("REMINDER_REPEAT", "0", "between 1 and 10"),
    ("REMINDER_REPEAT", "many", "whole number"),
])
def test_a_wrong_value_is_one_line_naming_the_variable(name, value, hint):
    with pytest.raises(ConfigError) as raised:
        Config.from_mapping({name: value})
    [line] = str(raised.value).splitlines()[1:]
    assert line.strip().startswith(f"{name}: ") and hint in line
