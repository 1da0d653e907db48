"""Slack bot for ThousandEyes alerts."""

from bot.app import create_app

__all__ = ["create_app"]
