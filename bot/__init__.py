"""Slack bot for ThousandEyes alerts.

``create_app`` lives in :mod:`bot.process.app`; it is imported lazily here so that light
commands (``python -m bot send-sample``) do not load Flask, Bolt and Authlib.
"""

from typing import Any

__all__ = ["__version__", "create_app"]

from bot.version import __version__


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from bot.process.app import create_app

        return create_app
    raise AttributeError(name)
