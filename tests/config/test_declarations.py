"""Each setting is declared once (bot.config.settings); Config, the README's settings table
and app.json are checked against that declaration, so a default cannot drift."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path

import pytest

from bot.config import Config, ConfigError
from bot.config.settings import SETTINGS, Kind, Setting, short_duration

REPO = Path(__file__).resolve().parents[2]
# app.json may offer a value other than the default where Heroku needs it: its router is
# one proxy in front of every dyno.
HEROKU_VALUES = {"TRUSTED_PROXY_HOPS": 1}


def readme_defaults() -> dict[str, str]:
    """The README's settings table: variable → its default cell, backticks removed."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    defaults: dict[str, str] = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        names_cell, default_cell = (cell.strip() for cell in line.split(" | ")[:2])
        names = re.findall(r"`([A-Z0-9_]+)`", names_cell)
        cells = default_cell.split(" / ") if len(names) > 1 and " / " in default_cell \
            else [default_cell] * len(names)
        for name, cell in zip(names, cells, strict=True):
            defaults[name] = cell.replace("`", "").strip()
    return defaults


def readme_meaning(name: str) -> str:
    readme = (REPO / "README.md").read_text()
    [line] = [row for row in readme.splitlines() if row.startswith("| ") and f"`{name}`" in
              row.split(" | ")[0]]
    return line.split(" | ", 2)[2]


def value_of(setting: Setting, text: str) -> object:
    """What the service makes of ``text`` written in this variable."""
    return getattr(Config.from_mapping({setting.name: text}), setting.field)


def test_every_config_field_is_one_declared_setting_with_the_declared_default():
    names = [setting.name for setting in SETTINGS]
    assert len(names) == len(set(names))
    declared = {setting.field: setting for setting in SETTINGS}
    assert [f.name for f in fields(Config)] and {f.name for f in fields(Config)} == set(declared)
    for f in fields(Config):
        assert f.default == declared[f.name].default, f.name
        assert f.repr is not declared[f.name].secret, f.name
    assert Config() == Config.from_mapping({})


def test_the_readme_table_shows_every_setting_with_its_default():
    documented = readme_defaults()
    for setting in SETTINGS:
        assert setting.name in documented, f"README's table lacks {setting.name}"
        cell = documented[setting.name]
        if setting.default_shown is not None:
            assert cell == setting.default_shown, setting.name
        elif cell == "–":
            assert setting.default in (None, ()), f"{setting.name}: README says unset"
        else:
            assert value_of(setting, cell) == setting.default, f"{setting.name}: README {cell!r}"
    assert set(documented) <= {setting.name for setting in SETTINGS}


def test_the_readme_states_each_lower_bound_users_hit():
    for setting in SETTINGS:
        meaning = readme_meaning(setting.name)
        if setting.min_length:
            assert f"{setting.min_length}+ characters" in meaning, setting.name
        if setting.kind is Kind.DURATION and setting.minimum is not None:
            assert f"at least `{short_duration(setting.minimum)}`" in meaning, setting.name


def test_app_json_offers_declared_settings_with_their_defaults():
    app_json = json.loads((REPO / "app.json").read_text())
    declared = {setting.name: setting for setting in SETTINGS}
    for name, spec in app_json["env"].items():
        assert name in declared, f"app.json offers {name}, which is not a declared setting"
        setting = declared[name]
        if "value" in spec:
            expected = HEROKU_VALUES.get(name, setting.default)
            assert value_of(setting, spec["value"]) == expected, f"app.json {name}"
        if setting.min_length:
            assert f"{setting.min_length}+ characters" in spec["description"], name


@pytest.mark.parametrize("setting", [s for s in SETTINGS if s.secret and s.min_length],
                         ids=lambda setting: setting.name)
def test_a_wrong_secret_is_named_but_never_echoed(setting):
    wrong = "no-colon-s3cr3t" if setting.kind is Kind.BASIC_AUTH else "s3cr3t"
    with pytest.raises(ConfigError) as raised:
        Config.from_mapping({setting.name: wrong})
    [line] = str(raised.value).splitlines()[1:]
    assert line.strip().startswith(f"{setting.name}: ") and wrong not in str(raised.value)
