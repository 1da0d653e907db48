"""The Slack manifest, app.json and Procfile agree with what the code reads and serves."""

from __future__ import annotations

import json
import secrets
import shlex
from pathlib import Path

import yaml

from bot.cli.main import build_parser
from bot.config import Config
from bot.process.app import create_app
from bot.slack.oauth import BOT_SCOPES, INSTALL_PATH, REDIRECT_PATH
from bot.web.services import services

REPO = Path(__file__).resolve().parents[2]


class _Recorder(dict):
    """A mapping that remembers every variable Config asks for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key, default=None):
        self.asked.add(key)
        return default


def variables_config_reads() -> set[str]:
    recorder = _Recorder()
    Config.from_mapping(recorder)
    return recorder.asked


def served_rules(tmp_path) -> set[str]:
    app = create_app(Config(database_url=f"sqlite:///{tmp_path}/db.sqlite3",
                            slack_client_id="1.2", slack_client_secret="s",
                            slack_signing_secret="x"))
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    services(app).database.dispose()
    return rules


def test_manifest_matches_routes_scopes_and_command(tmp_path):
    manifest = yaml.safe_load((REPO / "manifest.yml").read_text())
    rules = served_rules(tmp_path)
    settings = manifest["settings"]
    for url in (settings["interactivity"]["request_url"],
                settings["event_subscriptions"]["request_url"],
                manifest["features"]["slash_commands"][0]["url"]):
        assert url.startswith("https://YOUR-HOST/")
        assert url.removeprefix("https://YOUR-HOST") in rules
    [redirect] = manifest["oauth_config"]["redirect_urls"]
    assert redirect == f"https://YOUR-HOST{REDIRECT_PATH}" and REDIRECT_PATH in rules
    assert INSTALL_PATH in rules
    assert tuple(manifest["oauth_config"]["scopes"]["bot"]) == BOT_SCOPES
    assert "user" not in manifest["oauth_config"]["scopes"]  # no user scopes at all
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == Config().slack_command and command["should_escape"] is True
    assert set(settings["event_subscriptions"]["bot_events"]) == {"app_uninstalled", "tokens_revoked"}
    assert settings["socket_mode_enabled"] is False


def test_socket_mode_manifest_is_the_same_app_without_urls():
    http = yaml.safe_load((REPO / "manifest.yml").read_text())
    socket = yaml.safe_load((REPO / "manifest.socket-mode.yml").read_text())
    assert socket["settings"]["socket_mode_enabled"] is True
    assert socket["oauth_config"]["scopes"] == http["oauth_config"]["scopes"]
    assert "YOUR-HOST" not in (REPO / "manifest.socket-mode.yml").read_text()
    assert socket["features"]["slash_commands"][0]["command"] == http["features"]["slash_commands"][0]["command"]


def test_app_json_describes_only_variables_the_code_reads():
    app_json = json.loads((REPO / "app.json").read_text())
    readable = variables_config_reads()
    for name, spec in app_json["env"].items():
        assert name in readable, f"app.json sets {name}, which the service never reads"
        assert spec["description"].strip()
    assert app_json["env"]["WEBHOOK_TOKEN"]["generator"] == "secret"
    # Heroku's "secret" generator makes 64 hex characters: a token the service accepts.
    generated = secrets.token_hex(32)
    assert Config.from_mapping({"WEBHOOK_TOKEN": generated}).webhook_token == generated
    # The Slack app is made after the deploy (its manifest needs the Heroku host), so no
    # Slack setting may be required by the Deploy button.
    for name in ("SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "SLACK_CHANNEL", "SLACK_APP_TOKEN"):
        assert app_json["env"].get(name, {}).get("required", False) is False, name
    assert any(a["plan"].startswith("heroku-postgresql") for a in app_json["addons"])
    assert app_json["formation"]["web"]["quantity"] >= 1
    # Every setting a Heroku user needs is offered (the rest are internal or set by Heroku).
    internal = {"DATABASE_URL", "PORT", "SLACK_API_URL", "SLACK_APP_TOKEN", "TEMPLATES_DIR",
                "OAUTH_REDIRECT_URIS",
                "SQLITE_SYNCHRONOUS", "WEB_THREADS", "SLACK_POST_INTERVAL", "SLACK_TIMEOUT",
                "WEBHOOK_MAX_BODY_BYTES", "DELIVERY_STUCK_AFTER", "PROMETHEUS_MULTIPROC_DIR",
                "METRICS_PORT", "WEBHOOK_GROUP_COMMIT"}
    assert readable - internal <= set(app_json["env"])


def test_procfile_commands_are_real_cli_commands():
    processes = dict(line.split(": ", 1) for line in (REPO / "Procfile").read_text().splitlines()
                     if line.strip())
    assert set(processes) == {"web", "worker", "release"}
    parser = build_parser()
    for command in processes.values():
        words = shlex.split(command)
        assert words[:3] == ["python", "-m", "bot"]
        parser.parse_args(words[3:])  # exits the test with an error if it is not valid
    assert processes["release"] == "python -m bot db upgrade"
    assert (REPO / ".python-version").read_text().strip() == "3.11"


def test_readme_documents_every_variable():
    readme = (REPO / "README.md").read_text()
    missing = [name for name in variables_config_reads() if f"`{name}`" not in readme]
    assert missing == []


def test_deploy_button_and_app_json_name_the_same_repository_and_land_on_the_front_page(tmp_path):
    app_json = json.loads((REPO / "app.json").read_text())
    readme = (REPO / "README.md").read_text()
    repository = app_json["repository"]
    assert repository.startswith("https://github.com/")
    assert f"(https://heroku.com/deploy?template={repository})" in readme
    assert app_json["success_url"] == "/"
    assert "/" in served_rules(tmp_path)


def test_readme_runs_commands_with_the_virtual_environments_python():
    readme = (REPO / "README.md").read_text()
    bare = [line for line in readme.splitlines()
            if "python -m bot" in line.replace(".venv/bin/python -m bot", "")
            and "dyno" not in line and "Heroku" not in line]
    assert bare == []
