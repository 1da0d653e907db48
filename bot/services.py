"""The objects one app instance shares: config, database, credentials, wake-ups.

Built by ``create_app`` and kept on ``app.extensions``; no module-level singletons, so
two apps (two tests) never share state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Flask
from slack_sdk.oauth.installation_store import InstallationStore

from bot.config import Config
from bot.delivery.wakeup import JobWakeup
from bot.render import MessageRenderer
from bot.store.database import Database
from bot.webhook_auth import WebhookCredentials

EXTENSION_KEY = "thousandeyes_bot"


@dataclass
class Services:
    config: Config
    database: Database
    webhook_credentials: WebhookCredentials
    # One per process: it compiles each template once (TEMPLATES_DIR overrides first).
    renderer: MessageRenderer
    installation_store: InstallationStore | None = None
    # Rung when a job is queued, so an in-process delivery thread starts at once instead
    # of waiting for its next poll.
    jobs_waiting: JobWakeup = field(default_factory=JobWakeup)

    def notify_new_jobs(self) -> None:
        self.jobs_waiting.notify_one()


def services(app: Flask) -> Services:
    return app.extensions[EXTENSION_KEY]
