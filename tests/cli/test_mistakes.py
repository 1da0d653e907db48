"""Every mistake a newcomer makes on the command line is one clear line (at most three),
names the variable or flag, exits non-zero, and never shows a traceback."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from tests.support.payloads import load_sample
from tests.support.processes import REPO, bot_env, free_port, run_bot


def assert_one_clear_line(result, *names: str) -> str:
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 3, result.stderr
    assert "Traceback" not in result.stderr
    for name in names:
        assert name in result.stderr
    return result.stderr


# Each wrong URL against a different command, so every command that opens the
# database is seen refusing one; serve is run on two.
@pytest.mark.parametrize(("url", "command", "says"), [
    ("notaurl", ("serve", "--port", "PORT"), "is not a database URL"),
    ("notaurl", ("oauth", "list"), "is not a database URL"),
    ("mysql://bot:hunter2@127.0.0.1/bot", ("worker",), "'mysql' databases are not supported"),
    ("postgresql+psycopg2://bot@127.0.0.1/bot", ("jobs", "list"), "driver 'psycopg2'"),
    ("postgresql://bot:hunter2@127.0.0.1:1/bot", ("db", "upgrade"), "Connection refused"),
    ("postgresql://bot:hunter2@127.0.0.1:1/bot", ("serve", "--port", "PORT"),
     "Connection refused"),
    ("postgresql://bot:hunter2@127.0.0.1:1/bot", ("oauth", "add-client", "TE"),
     "Connection refused"),
])
def test_a_wrong_database_url_is_one_line_naming_it(tmp_path, url, command, says):
    command = tuple(str(free_port()) if word == "PORT" else word for word in command)
    result = run_bot(*command, env=bot_env(DATABASE_URL=url), cwd=tmp_path)
    stderr = assert_one_clear_line(result, says)
    assert "hunter2" not in stderr  # the password is masked
    assert "DATABASE_URL" in stderr


def test_a_sqlite_file_in_a_folder_that_does_not_exist_is_refused_not_created(tmp_path):
    missing = tmp_path / "nonexistent" / "dir"
    result = run_bot("db", "upgrade", env=bot_env(DATABASE_URL=f"sqlite:///{missing}/x.sqlite3"),
                     cwd=tmp_path)
    assert_one_clear_line(result, "DATABASE_URL", str(missing), "does not exist")
    assert not missing.parent.exists()


def test_the_default_data_folder_is_still_created(tmp_path):
    result = run_bot("db", "upgrade", env=bot_env(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "thousandeyes-bot.sqlite3").exists()


@pytest.mark.parametrize("port", ["99999", "0", "-1", "eighty"])
def test_serve_port_out_of_range_names_the_flag_and_the_range(tmp_path, port):
    result = run_bot("serve", "--port", port, env=bot_env(), cwd=tmp_path)
    assert_one_clear_line(result, "--port", "1 to 65535")
    assert result.returncode == 2


def test_send_sample_to_something_that_is_not_a_url(tmp_path):
    result = run_bot("send-sample", "test", "--url", "not-a-url", env=bot_env(), cwd=tmp_path)
    assert_one_clear_line(result, "--url", "not-a-url", "http(s) URL")


def test_send_sample_to_a_port_where_nothing_listens(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/webhooks/thousandeyes"
    result = run_bot("send-sample", "test", "--url", url, env=bot_env(), cwd=tmp_path)
    assert_one_clear_line(result, "could not reach", url)


def test_render_reads_a_utf16_payload(tmp_path):
    path = tmp_path / "trigger.json"
    path.write_text(json.dumps(load_sample("trigger")), encoding="utf-16")
    result = run_bot("render", str(path), env=bot_env(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["blocks"]


@pytest.mark.parametrize(("content", "says"), [
    (b'{"eventType": "\xe9t\xe9"}', "not text in UTF-8 or UTF-16"),  # Latin-1
    (b"eventType: ALERT_NOTIFICATION_TRIGGER\n", "not JSON"),
])
def test_render_of_a_file_that_is_no_json_text(tmp_path, content, says):
    path = tmp_path / "payload.json"
    path.write_bytes(content)
    result = run_bot("render", str(path), env=bot_env(), cwd=tmp_path)
    assert_one_clear_line(result, str(path), says)


def test_render_of_a_file_that_does_not_exist(tmp_path):
    result = run_bot("render", str(tmp_path / "nope.json"), env=bot_env(), cwd=tmp_path)
    assert_one_clear_line(result, "nope.json", "No such file")


def test_a_missing_subcommand_is_one_line(tmp_path):
    result = run_bot("jobs", env=bot_env(), cwd=tmp_path)
    assert_one_clear_line(result, "python -m bot jobs", "--help")


def test_serve_on_a_port_in_use_is_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_bot("serve", "--host", "127.0.0.1", "--port", str(port), env=bot_env(),
                         cwd=tmp_path)
    assert_one_clear_line(result, f"cannot listen on 127.0.0.1:{port}", "--port")


def test_serve_on_a_host_this_machine_does_not_have(tmp_path):
    result = run_bot("serve", "--host", "999.1.1.1", env=bot_env(PORT=str(free_port())),
                     cwd=tmp_path)
    assert_one_clear_line(result, "cannot listen on 999.1.1.1", "--host")


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("WEBHOOK_TOKEN", "tok", "at least 16 characters"),
    ("WEBHOOK_TOKEN", "fifteen-chars-x", "at least 16 characters"),
    ("WEBHOOK_BASIC_AUTH", "thousandeyes:hunter2-pw", "password must be at least 12 characters"),
])
def test_a_guessable_webhook_credential_is_refused_at_start(tmp_path, variable, value, says):
    result = run_bot("serve", "--port", str(free_port()), env=bot_env(**{variable: value}),
                     cwd=tmp_path)
    stderr = assert_one_clear_line(result, variable, says)
    assert value.rpartition(":")[2] not in stderr  # the secret is never echoed


@pytest.mark.parametrize(("variable", "value", "expected"), [
    ("SLACK_BOT_TOKEN", "xapp-1-A0APP-swapped-by-mistake", "xoxb-"),
    ("SLACK_APP_TOKEN", "xoxb-1234-swapped-by-mistake", "xapp-"),
    ("SLACK_BOT_TOKEN", "xoxp-1234-a-user-token", "xoxb-"),
])
def test_a_token_of_the_wrong_kind_is_one_line_naming_the_variable(tmp_path, variable, value,
                                                                   expected):
    others = {"SLACK_BOT_TOKEN": "xoxb-right-kind", "SLACK_APP_TOKEN": "xapp-right-kind"}
    result = run_bot("serve", "--port", str(free_port()),
                     env=bot_env(**{**others, variable: value}), cwd=tmp_path)
    stderr = assert_one_clear_line(result, variable, expected)
    assert value not in stderr and value[5:] not in stderr  # a token is never echoed
    assert result.returncode == 2


@pytest.mark.parametrize("url", ["postgresql://bot:hunter2@127.0.0.1:1/bot"])
@pytest.mark.parametrize("command", [("serve", "--port", "PORT"), ("db", "upgrade")])
def test_an_unreachable_postgresql_is_one_line_with_the_url_as_written(tmp_path, url, command):
    command = tuple(str(free_port()) if word == "PORT" else word for word in command)
    result = run_bot(*command, env=bot_env(DATABASE_URL=url), cwd=tmp_path)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert url.replace("hunter2", "***") in line and "+psycopg" not in line


def test_a_closed_pipe_ends_quietly_as_unix_tools_do(tmp_path):
    """``python -m bot render FILE | head -1``: head has gone when the rest is written."""
    payload = tmp_path / "trigger.json"
    payload.write_text(json.dumps(load_sample("trigger")))
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before anything is written
    try:
        process = subprocess.run([sys.executable, "-m", "bot", "render", str(payload)],
                                 stdout=write_end, stderr=subprocess.PIPE, text=True,
                                 env=bot_env(), cwd=REPO, timeout=60, check=False)
    finally:
        os.close(write_end)
    assert process.stderr == ""
    assert process.returncode == 128 + signal.SIGPIPE  # what a shell reports for `yes | head`
