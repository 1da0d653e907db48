"""What a newcomer looks for first: a version, a licence, a changelog, and a README that
starts with a quick start and answers the usual questions (commands, samples, upgrading,
backing up)."""

from __future__ import annotations

import argparse
import re
import tomllib
from pathlib import Path

from bot import __version__
from bot.cli.main import build_parser
from tests.support.processes import bot_env, run_bot

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    """The README section under the heading ``title`` (to the next heading of its level)."""
    match = re.search(rf"^(#+) {re.escape(title)}\n(.*?)(?=^\1 |\Z)", README, re.M | re.S)
    assert match, f"no section {title!r}"
    return match.group(2)


def test_version_prints_the_one_version_string(tmp_path):
    result = run_bot("--version", env=bot_env(), cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.split() == ["thousandeyes-slack-bot", __version__]
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["version"] == __version__
    changelog = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    first_release = re.search(r"^## \[?(\S+?)\]?\s", changelog, re.M)
    assert first_release and first_release.group(1) == __version__


def test_the_licence_is_mit():
    licence = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("MIT License")
    assert "Copyright (c) 2026 the ThousandEyes Slack bot authors" in licence


def test_the_readme_starts_with_a_quick_start_of_ten_lines_or_fewer():
    headings = re.findall(r"^## (.+)$", README, re.M)
    assert headings[0] == "Quick start"
    commands = re.search(r"```sh\n(.*?)```", section("Quick start"), re.S).group(1)
    assert len(commands.strip().splitlines()) <= 10
    assert "python -m bot serve" in commands and "send-sample trigger" in commands


def every_command(parser: argparse.ArgumentParser, prefix: str = "") -> list[str]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                nested = every_command(sub, f"{prefix}{name} ")
                found += nested or [f"{prefix}{name}"]
    return found


def test_the_command_table_lists_every_command():
    table = section("Commands")
    commands = every_command(build_parser())
    assert "oauth add-client" in commands
    for command in commands:
        assert f"python -m bot {command}" in table, command
    assert "--version" in table


def test_the_readme_says_where_the_samples_are_and_how_to_upgrade_and_back_up():
    assert "bot/thousandeyes/samples/" in README
    upgrading = section("Upgrading")
    for words in ("migrations", "RETENTION", "Heroku", "preboot"):
        assert words in upgrading, words
    backing_up = section("Backing up")
    for words in ("sqlite3", ".backup", "pg_dump", "stopped"):
        assert words in backing_up, words


def test_the_readme_says_socket_mode_allows_ten_connections():
    assert "too_many_websockets" in README and "WEB_CONCURRENCY" in README
