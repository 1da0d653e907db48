"""The layout holds: imports only point down the layers of docs/architecture.md, no
circle, no module over 400 lines.

Every import counts wherever it stands (module top, inside a function, under
``TYPE_CHECKING``), so a circle cannot be hidden by moving an import out of sight.
"""

from __future__ import annotations

import ast
from pathlib import Path

BOT = Path(__file__).resolve().parents[1] / "bot"

# Bottom first. A module may import from its own row or a lower one (docs/architecture.md).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("bot.clock", "bot.ids", "bot.hashing", "bot.version"),
    ("bot.config", "bot.thousandeyes", "bot.db"),
    ("bot.outbox",),
    ("bot.render",),
    ("bot.store",),
    ("bot.web",),
    ("bot.slack",),
    ("bot.delivery",),
    ("bot.metrics",),
    ("bot.process",),
    ("bot.cli",),
    ("bot", "bot.__main__"),
)
MAX_LINES = 400
OVER_MAX_FOR_NOW: set[str] = set()


def _modules() -> dict[str, Path]:
    found = {}
    for path in BOT.rglob("*.py"):
        parts = list(path.relative_to(BOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(modules: dict[str, Path]) -> set[tuple[str, str]]:
    """(importer, imported) for every import of a ``bot`` module, wherever it stands."""
    def known(name: str) -> str:
        while name not in modules:
            name = name.rpartition(".")[0]
        return name

    edges = set()
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{alias.name}" for alias in node.names]
            for target in targets:
                # Every import runs bot/__init__.py: that is no dependency on the top row.
                if target.startswith("bot."):
                    imported = known(target)
                    if imported != name:
                        edges.add((name, imported))
    return edges


def _layer(module: str) -> int:
    best, length = -1, -1
    for index, row in enumerate(LAYERS):
        for prefix in row:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > length:
                best, length = index, len(prefix)
    assert best >= 0, f"{module} is in no layer: add its package to LAYERS"
    return best


def test_imports_only_point_down() -> None:
    upward = sorted(f"{a} -> {b}" for a, b in _imports(_modules()) if _layer(b) > _layer(a))
    assert upward == []


def test_no_circle() -> None:
    graph: dict[str, set[str]] = {}
    for importer, imported in _imports(_modules()):
        graph.setdefault(importer, set()).add(imported)
    done: set[str] = set()

    def circle_from(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return path[path.index(module):] + [module]
        if module in done:
            return None
        for imported in sorted(graph.get(module, ())):
            found = circle_from(imported, path + [module])
            if found:
                return found
        done.add(module)
        return None

    circles = [c for c in (circle_from(m, []) for m in sorted(graph)) if c]
    assert circles == []


def test_modules_are_small() -> None:
    long = sorted(
        f"{path.relative_to(BOT)}: {n}" for path in BOT.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
        and str(path.relative_to(BOT)) not in OVER_MAX_FOR_NOW
    )
    assert long == []
