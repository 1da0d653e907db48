"""The objects one app instance shares: config, database, credentials, wake-ups, and
what each subsystem adds to them.

Built by ``create_app`` and kept on ``app.extensions``; ``services(app)`` is the one way
to reach any of it. Each subsystem's ``init_app(app, services)`` fills in its own field;
nothing else is stored on the app. No module-level singletons, so two apps (two tests)
never share state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from flask import Flask
from slack_sdk.oauth.installation_store import InstallationStore

from bot.config import Config
from bot.delivery.wakeup import JobWakeup
from bot.render import MessageRenderer
from bot.store.database import Database
from bot.webhook_auth import WebhookCredentials

if TYPE_CHECKING:
    from authlib.integrations.flask_oauth2 import AuthorizationServer
    from slack_bolt import App as BoltApp
    from slack_bolt.adapter.flask import SlackRequestHandler

    from bot.admin_session import AdminSessions
    from bot.delivery.runner import DeliveryWorker
    from bot.metrics import Metrics
    from bot.oauth_server.csrf import ConsentForms
    from bot.slack.socket_mode import SocketModeRunner
    from bot.slack.token_check import BotTokenCheck
    from bot.store.group_commit import GroupCommitter

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
    # Slack's listeners (bot.slack.init_app): None while buttons and commands are off.
    bolt: BoltApp | None = None
    slack_handler: SlackRequestHandler | None = None  # over HTTP; None: Socket Mode only
    # Our OAuth server for ThousandEyes (bot.oauth_server.init_app): None while off.
    oauth_server: AuthorizationServer | None = None
    consent_forms: ConsentForms | None = None
    # The administrator's sign-in (bot.admin_page.init_app): None while it is off.
    admin_sessions: AdminSessions | None = None
    # What a serving process runs beside its web threads (bot.background).
    delivery_worker: DeliveryWorker | None = None
    socket_mode: SocketModeRunner | None = None
    # Whether Slack still accepts SLACK_BOT_TOKEN (bot.slack.init_app); None without one.
    bot_token_check: BotTokenCheck | None = None
    # What this process counts for /metrics (bot.metrics_http.init_app).
    metrics: Metrics | None = None
    # Webhooks committed together (bot.webhook.init_app); None: each in its own transaction.
    group_commit: GroupCommitter | None = None

    def notify_new_jobs(self, due_at: datetime | None = None) -> None:
        """A job was queued; ``due_at`` is when it can start (its channel may be paced)."""
        if due_at is None:
            self.jobs_waiting.notify_one()
        else:
            self.jobs_waiting.notify_at((due_at - datetime.now(timezone.utc)).total_seconds())


def services(app: Flask) -> Services:
    return app.extensions[EXTENSION_KEY]
