"""The settings of operating it: METRICS_TOKEN, LOG_FORMAT, DELIVERY_STUCK_AFTER,
PROMETHEUS_MULTIPROC_DIR, validated with the rest and never echoed when secret."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.config import Config, ConfigError


def test_defaults():
    config = Config.from_mapping({})
    assert config.metrics_token is None
    assert config.log_format == "text"
    assert config.delivery_stuck_after == timedelta(minutes=5)
    assert config.metrics_dir is None
    assert config.metrics_port is None


def test_values_are_read(tmp_path):
    config = Config.from_mapping({
        "METRICS_TOKEN": "a-metrics-token-of-length", "LOG_FORMAT": "JSON",
        "DELIVERY_STUCK_AFTER": "90s", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "METRICS_PORT": "9100"})
    assert config.metrics_port == 9100
    assert config.metrics_token == "a-metrics-token-of-length"
    assert config.log_format == "json"
    assert config.delivery_stuck_after == timedelta(seconds=90)
    assert config.metrics_dir == str(tmp_path)
    assert config.describe()["metrics_token"] == "set"
    assert "a-metrics-token-of-length" not in repr(config)
    assert Config.from_mapping({"DELIVERY_STUCK_AFTER": "off"}).delivery_stuck_after is None


def test_every_wrong_value_is_named_at_once(tmp_path):
    with pytest.raises(ConfigError) as raised:
        Config.from_mapping({"METRICS_TOKEN": "short-secret", "LOG_FORMAT": "xml",
                             "DELIVERY_STUCK_AFTER": "5", "PROMETHEUS_MULTIPROC_DIR":
                             str(tmp_path / "missing"), "METRICS_PORT": "70000"})
    message = str(raised.value)
    for name in ("METRICS_TOKEN", "LOG_FORMAT", "DELIVERY_STUCK_AFTER",
                 "PROMETHEUS_MULTIPROC_DIR", "METRICS_PORT"):
        assert name in message
    assert "short-secret" not in message
