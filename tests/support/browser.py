"""A real headless Chromium for tests of web pages (the front page, the OAuth consent).

Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them); Selenium is
given both paths, so Selenium Manager never tries to download a browser or a driver.
Test modules call :func:`skip_without_chromium` before importing Selenium's pieces, and
import the :func:`browser` fixture.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def skip_without_chromium() -> None:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()) and not os.environ.get("CI"):
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install -y chromium"
                    " chromium-driver); CI installs them", allow_module_level=True)


@contextmanager
def headless_chromium(profile: Path) -> Iterator[Any]:
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    # The machine has no network: without these Chromium keeps trying to reach Google.
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    with headless_chromium(tmp_path / "chromium") as driver:
        yield driver
