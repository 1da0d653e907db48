"""The tests' own house rules, checked so they stay true: tests wait on conditions or an
injected clock, never on real time; payloads are built in one place (``tests/support/payloads``);
each test module sits under the package of ``bot/`` it tests."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
BOT = TESTS.parent / "bot"
SUPPORT = TESTS / "support"

# A fixed sleep that is the behaviour under test, not a wait for something to happen.
SLEEPS_ALLOWED = {
    # A fake Slack that answers after the client's timeout, as a slow Slack does.
    "faults/test_found_defects.py": "SlowSuccessSlack answers later than SLACK_TIMEOUT",
}

# Functions that change payloads as the thing under test, not to build test data.
BUILDERS_ALLOWED = {
    # A Hypothesis strategy: the hostile mutation of a sample is what the fuzz test draws.
    "faults/test_webhook_fuzz.py": {"mutated_sample"},
}

# Modules at the top of tests/ check the project as a whole, not one package.
PROJECT_CHECKS = {"test_layers.py", "test_project_files.py", "test_test_layout.py"}

# Test directories that are not a package of bot/: they cut across packages.
CROSS_CUTTING = {"faults", "fixtures", "support"}

# The top-level keys of a ThousandEyes notification: writing into one builds a payload.
PAYLOAD_KEYS = {"eventId", "eventType", "alert"}


def _test_modules() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py")
                  if SUPPORT not in p.parents and "fixtures" not in p.parts)


def _sleeps(tree: ast.AST) -> list[int]:
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "sleep" and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "time"]


def _is_event_dict(node: ast.AST) -> bool:
    return isinstance(node, ast.Dict) and any(
        isinstance(key, ast.Constant) and key.value == "eventType" for key in node.keys)


def _payload_keys(node: ast.AST) -> set[str]:
    """The constant keys along a subscript chain: ``p["alert"]["testId"]`` gives both."""
    keys = set()
    while isinstance(node, ast.Subscript):
        if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
            keys.add(node.slice.value)
        node = node.value
    return keys


def _writes_a_payload(function: ast.FunctionDef) -> bool:
    """``p["alert"][...] = ...``, ``p["eventId"] = ...`` or ``p["alert"].update(...)``."""
    for node in ast.walk(function):
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(_payload_keys(t) & PAYLOAD_KEYS for t in targets):
            return True
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "update" and _payload_keys(node.func.value) & PAYLOAD_KEYS):
            return True
    return False


def _payload_builders(tree: ast.AST) -> list[str]:
    """Functions other than tests (helpers, fixtures) that write into a payload's
    ``eventId`` or ``alert``, or return what they made with an ``eventType`` literal. A test may
    still spell the one odd payload it is about."""
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef) or function.name.startswith("test_"):
            continue
        returns = [n for n in ast.walk(function) if isinstance(n, ast.Return) and n.value]
        literal = bool(returns) and any(_is_event_dict(n) for n in ast.walk(function))
        if literal or _writes_a_payload(function):
            found.append(f"{function.name} (line {function.lineno})")
    return found


def test_no_test_waits_on_real_time():
    sleeping = {}
    for path in _test_modules():
        name = path.relative_to(TESTS).as_posix()
        lines = _sleeps(ast.parse(path.read_text(encoding="utf-8")))
        if lines and name not in SLEEPS_ALLOWED:
            sleeping[name] = lines
    assert sleeping == {}, "wait on a condition (tests/support/waiting.py) or a clock"


def test_the_allowed_sleeps_are_still_there():
    for name in SLEEPS_ALLOWED:
        assert _sleeps(ast.parse((TESTS / name).read_text(encoding="utf-8"))), name


def test_payloads_are_built_only_in_support():
    builders = {}
    for path in _test_modules():
        name = path.relative_to(TESTS).as_posix()
        allowed = BUILDERS_ALLOWED.get(name, set())
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found = [builder for builder in _payload_builders(tree)
                 if builder.split(" ")[0] not in allowed]
        if found:
            builders[name] = found
    assert builders == {}, "build payloads in tests/support/payloads.py"


def test_the_payload_rule_sees_a_builder():
    tree = ast.parse(
        "def recent():\n"
        "    payload = load_sample('trigger')\n"
        "    payload['alert']['dateStart'] = 'now'\n"
        "    return payload\n"
        "def literal():\n"
        "    return {'eventType': 'WEBHOOK_TEST'}\n"
        "def plain():\n"
        "    return load_sample('trigger')\n"
        "def sends(server):\n"
        "    payload = load_sample('trigger')\n"
        "    payload['eventId'] = 'again'\n"
        "    send(server, payload)\n"
        "def test_odd(server):\n"
        "    payload = load_sample('trigger')\n"
        "    payload['alert']['severity'] = 'INFO'\n")
    assert _payload_builders(tree) == ["recent (line 1)", "literal (line 5)", "sends (line 9)"]


def test_test_directories_mirror_the_packages():
    packages = {p.name for p in BOT.iterdir() if (p / "__init__.py").exists()}
    directories = {p.name for p in TESTS.iterdir()
                   if p.is_dir() and p.name != "__pycache__"}
    assert directories - packages - CROSS_CUTTING == set()
    loose = sorted(p.name for p in TESTS.glob("test_*.py") if p.name not in PROJECT_CHECKS)
    assert loose == []
