"""``python -m bot db prune`` as an operator runs it, and RETENTION's refusals at start."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.config import Config, ConfigError
from tests.store.aging import age_everything, count_rows
from tests.support.delivery import drain, send, serving
from tests.support.payloads import load_sample, numbered_alert_event
from tests.support.processes import bot_env, run_bot


@pytest.fixture
def old_rows(slack_config, fake_slack):
    """One alert cleared 40 days ago, one still open, and a Test-button event."""
    with serving(slack_config) as (server, worker):
        send(server, numbered_alert_event("trigger", 1, "cli", "cleared"))
        send(server, numbered_alert_event("clear", 1, "cli", "cleared"))
        send(server, numbered_alert_event("trigger", 2, "cli", "open"))
        send(server, load_sample("test"))
        drain(worker)
        age_everything(worker.database, timedelta(days=40))
        yield worker.database


def test_db_prune_says_how_much_it_removed_per_table(old_rows, database_url, tmp_path):
    result = run_bot("db", "prune", env=bot_env(DATABASE_URL=database_url), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "pruned 8 rows older than 30d: alerts 1, events 3, outbox_jobs 4,"
        " acknowledgements 0, snoozes 0, storms 0, auth_failures 0"]
    assert count_rows(old_rows)["alerts"] == 1  # the open one

    again = run_bot("db", "prune", env=bot_env(DATABASE_URL=database_url), cwd=tmp_path)
    assert again.stdout.startswith("pruned 0 rows older than 30d: alerts 0,")


def test_db_prune_with_retention_off_removes_nothing(old_rows, database_url, tmp_path):
    before = count_rows(old_rows)
    result = run_bot("db", "prune", env=bot_env(DATABASE_URL=database_url, RETENTION="off"),
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["RETENTION is off: nothing pruned, everything is kept"]
    assert count_rows(old_rows) == before


def test_db_prune_honours_a_longer_retention(old_rows, database_url, tmp_path):
    result = run_bot("db", "prune", env=bot_env(DATABASE_URL=database_url, RETENTION="60d"),
                     cwd=tmp_path)
    assert result.stdout.startswith("pruned 0 rows older than 60d:")


@pytest.mark.parametrize("value, expected", [
    (None, timedelta(days=30)), ("1d", timedelta(days=1)), ("90d", timedelta(days=90)),
    ("36h", timedelta(hours=36)), ("off", None)])
def test_retention_values(value, expected):
    env = {} if value is None else {"RETENTION": value}
    assert Config.from_mapping(env).retention == expected


@pytest.mark.parametrize("value, says", [
    ("12h", "RETENTION: must be at least 1d (or off), got '12h'"),
    ("soon", "RETENTION: 'soon' is not a duration"),
    ("30", "RETENTION: '30' needs a unit")])
def test_a_retention_under_a_day_or_unreadable_is_refused(value, says):
    with pytest.raises(ConfigError) as refused:
        Config.from_mapping({"RETENTION": value})
    assert says in str(refused.value)


def test_a_refused_retention_stops_the_start_with_one_line(tmp_path):
    env = bot_env(DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}", RETENTION="2h")
    result = run_bot("worker", env=env, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if "RETENTION" in line]
    assert "must be at least 1d (or off), got '2h'" in line
