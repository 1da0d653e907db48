"""Slack bot for ThousandEyes alerts.

``create_app`` lives in :mod:`bot.process.app`; it is imported lazily here so that light
commands (``python -m bot send-sample``) do not load Flask, Bolt and Authlib.
"""

from typing import Any

__all__ = ["__version__", "create_app"]

# The one version string: `python -m bot --version`; pyproject.toml and CHANGELOG.md
# repeat it, and a test (tests/test_project_files.py) holds them to it.
__version__ = "1.0.0"


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from bot.process.app import create_app

        return create_app
    raise AttributeError(name)
