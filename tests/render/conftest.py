from __future__ import annotations

import pytest

from bot.render import MessageRenderer


@pytest.fixture(scope="session")
def renderer() -> MessageRenderer:
    """The shipped templates, compiled once, as in the service."""
    return MessageRenderer()


@pytest.fixture
def override_dir(tmp_path):
    """A TEMPLATES_DIR; write templates into it with ``write(name, text)``."""
    directory = tmp_path / "templates"
    directory.mkdir()

    def write(name: str, text: str):
        (directory / name).write_text(text, encoding="utf-8")
        return directory

    write.path = directory
    return write
