"""The README's pictures are made by one command from the shipped templates."""

from __future__ import annotations

import importlib.util
import os
import re
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


def picture_pages() -> dict[str, str]:
    spec = importlib.util.spec_from_file_location("make_pictures", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.pictures()


def test_the_pictures_show_what_slack_shows():
    """Dates as Slack renders its date tokens for a reader in the stated zone (not their
    fallback text), one emoji per state, no figure said twice."""
    pages = picture_pages()
    everything = "".join(pages.values())
    # 2014-08-24 01:01:47 UTC, for a reader in Europe/Berlin (CEST), as Slack writes it.
    assert "Aug 24, 2014 at 3:01 AM" in pages["parent-triggered"]
    assert not re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", everything)
    assert ">3:01 AM<" in pages["parent-triggered"]  # the message's own time, same zone
    assert "👀" not in everything and "🟠" in pages["storm-rollup"]
    assert "time to acknowledge" not in pages["thread"]  # Alice's (2m) says it
