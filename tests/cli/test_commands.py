"""The command line's shape as a user meets it: read-only commands never migrate, and a
known mistake is one line and an exit code, never a traceback."""

from __future__ import annotations

from tests.support.processes import bot_env, run_bot


def test_read_only_commands_do_not_migrate_and_say_what_to_run(tmp_path):
    env = bot_env(DATABASE_URL=f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    for command in (("jobs", "list"), ("oauth", "list")):
        result = run_bot(*command, env=env, cwd=tmp_path)
        assert result.returncode == 1, result.stderr
        lines = result.stderr.strip().splitlines()
        assert lines == [lines[0]] and "Traceback" not in result.stderr
        assert "run `python -m bot db upgrade`" in lines[0]
    upgraded = run_bot("db", "upgrade", env=env, cwd=tmp_path)
    assert upgraded.returncode == 0
    listing = run_bot("jobs", "list", env=env, cwd=tmp_path)
    assert listing.returncode == 0 and listing.stdout.strip() == "no jobs"


def test_writing_commands_migrate_first(tmp_path):
    env = bot_env(DATABASE_URL=f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    result = run_bot("jobs", "retry", "--all-dead", env=env, cwd=tmp_path)
    assert result.returncode == 0 and "queued 0 job(s)" in result.stdout


def test_a_bad_setting_is_one_line_naming_it(tmp_path):
    env = bot_env(DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}", SLACK_POST_INTERVAL="soon")
    result = run_bot("jobs", "list", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "SLACK_POST_INTERVAL" in result.stderr and "Traceback" not in result.stderr


def test_a_database_url_that_is_not_one_is_named(tmp_path):
    env = bot_env(DATABASE_URL="notaurl")
    result = run_bot("oauth", "list", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: DATABASE_URL='notaurl' is not a database URL")
    assert "Traceback" not in result.stderr
