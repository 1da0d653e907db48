"""The objects one app instance shares: config, database, credentials, wake-ups.

Built by ``create_app`` and kept on ``app.extensions``; no module-level singletons, so
two apps (two tests) never share state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from flask import Flask
from slack_sdk.oauth.installation_store import InstallationStore

from bot.config import Config
from bot.delivery.wakeup import JobWakeup
from bot.store.database import Database
from bot.webhook_auth import WebhookCredentials

EXTENSION_KEY = "thousandeyes_bot"


@dataclass
class Services:
    config: Config
    database: Database
    webhook_credentials: WebhookCredentials
    installation_store: InstallationStore | None = None
    # Rung when a job is queued, so an in-process delivery thread starts at once instead
    # of waiting for its next poll.
    jobs_waiting: JobWakeup = field(default_factory=JobWakeup)

    def notify_new_jobs(self, due_at: datetime | None = None) -> None:
        """A job was queued; ``due_at`` is when it can start (its channel may be paced)."""
        if due_at is None:
            self.jobs_waiting.notify_one()
        else:
            self.jobs_waiting.notify_at((due_at - datetime.now(timezone.utc)).total_seconds())


def services(app: Flask) -> Services:
    return app.extensions[EXTENSION_KEY]
