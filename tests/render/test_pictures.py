"""The README's pictures are made by one command from the shipped templates."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "docs" / "pictures" / "make_pictures.py"
PICTURES = ("parent-triggered", "parent-acknowledged", "parent-cleared", "thread",
            "agent-parent", "storm-rollup")

needs_chromium = pytest.mark.skipif(
    not (Path("/usr/bin/chromium").exists() and Path("/usr/bin/chromedriver").exists())
    and not os.environ.get("CI"),
    reason="needs Debian's chromium and chromium-driver; CI installs them")


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


@needs_chromium
def test_one_command_makes_every_picture(tmp_path):
    result = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=180, cwd=tmp_path,
                            check=False)
    assert result.returncode == 0, result.stderr
    for name in PICTURES:
        width, height = png_size(tmp_path / f"{name}.png")
        assert 700 <= width <= 820 and 100 <= height <= 2000, (name, width, height)
    # The thread shows the cleared parent and three replies under it.
    assert png_size(tmp_path / "thread.png")[1] > png_size(tmp_path / "parent-cleared.png")[1]


def test_the_readme_shows_the_pictures_that_are_in_the_repository():
    readme = (REPO / "README.md").read_text()
    for name in ("parent-triggered", "parent-acknowledged", "parent-cleared", "thread",
                 "storm-rollup"):
        assert f"(docs/pictures/{name}.png)" in readme
        png_size(REPO / "docs" / "pictures" / f"{name}.png")
    assert "docs/pictures/make_pictures.py" in readme
