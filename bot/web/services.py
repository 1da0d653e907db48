"""What a request needs, built once per app: config, database, credentials, renderer,
Slack's listeners, the OAuth server, the counters, and how to wake delivery.

Built by ``bot.process.app.create_app``, complete before the first route is registered,
and kept on ``app.extensions``; ``services(app)`` is the one way a route or listener
reaches any of it. Nothing in it is filled in later, and nothing that runs beside the
requests (delivery threads, the Socket Mode websocket) is kept here: those are started
and stopped by ``bot.process.background``, which tells :class:`SocketModeStatus` what
requests should report. No module-level singletons, so two apps (two tests) never share
state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from authlib.integrations.flask_oauth2 import AuthorizationServer
from flask import Flask
from slack_bolt import App as BoltApp
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_sdk.oauth.installation_store import InstallationStore

from bot.config import Config
from bot.db.database import Database
from bot.outbox.wakeup import JobWakeup
from bot.render import MessageRenderer
from bot.store.group_commit import GroupCommitter
from bot.web.admin_session import AdminSessions
from bot.web.oauth_server.csrf import ConsentForms
from bot.web.webhook_auth import WebhookCredentials

EXTENSION_KEY = "thousandeyes_bot"


class EventCounts(Protocol):
    """What the webhook counts (``bot.metrics.counters.Metrics`` is one)."""

    def event_stored(self, event_type: str, duplicate: bool) -> None: ...


class SocketModeStatus:
    """This process's Socket Mode connection as ``/healthz``, ``/`` and ``/metrics``
    report it: None while no websocket runs here. ``bot.process.background`` attaches
    the running connection's state and detaches it when it stops the connection."""

    def __init__(self) -> None:
        self._read: Callable[[], str] | None = None

    def attach(self, read: Callable[[], str]) -> None:
        self._read = read

    def detach(self) -> None:
        self._read = None

    @property
    def state(self) -> str | None:
        read = self._read
        return read() if read is not None else None


@dataclass(frozen=True)
class Oauth:
    """Our OAuth server for ThousandEyes and its consent forms (OAUTH_ADMIN_PASSWORD)."""
    server: AuthorizationServer
    consent_forms: ConsentForms
    admin_sessions: AdminSessions


@dataclass(frozen=True)
class AppCore:
    """What every request and every Slack listener needs; built first, so the listeners
    (which the rest of :class:`Services` holds) can be built from it."""
    config: Config
    database: Database
    # One per process: it compiles each template once (TEMPLATES_DIR overrides first).
    renderer: MessageRenderer
    installation_store: InstallationStore | None
    # Rung when a job is queued, so an in-process delivery thread starts at once instead
    # of waiting for its next poll.
    jobs_waiting: JobWakeup

    def notify_new_jobs(self, due_at: datetime | None = None) -> None:
        """A job was queued; ``due_at`` is when it can start (its channel may be paced)."""
        if due_at is None:
            self.jobs_waiting.notify_one()
        else:
            self.jobs_waiting.notify_at((due_at - datetime.now(UTC)).total_seconds())


class TokenCheck(Protocol):
    """The bot token's last known state, asked again at most once a minute."""

    state: str

    @property
    def problem(self) -> str | None: ...

    def refresh(self) -> str: ...


@dataclass(frozen=True)
class Services(AppCore):
    webhook_credentials: WebhookCredentials
    # Slack's listeners: None while buttons and commands are off.
    bolt: BoltApp | None
    slack_handler: SlackRequestHandler | None  # over HTTP; None: Socket Mode only
    # Our OAuth server for ThousandEyes, its consent forms and the administrator's
    # sign-in: None while OAUTH_ADMIN_PASSWORD is unset.
    oauth: Oauth | None
    # What this process counts for /metrics.
    metrics: EventCounts | None
    # Webhooks committed together; None: each in its own transaction.
    group_commit: GroupCommitter | None
    socket_mode: SocketModeStatus = field(default_factory=SocketModeStatus)
    # Whether Slack still accepts SLACK_BOT_TOKEN (bot.slack.token_check); None without one.
    bot_token_check: TokenCheck | None = None

    @property
    def oauth_server(self) -> AuthorizationServer | None:
        return self.oauth.server if self.oauth is not None else None

    @property
    def consent_forms(self) -> ConsentForms | None:
        return self.oauth.consent_forms if self.oauth is not None else None

    @property
    def admin_sessions(self) -> AdminSessions | None:
        return self.oauth.admin_sessions if self.oauth is not None else None


def services(app: Flask) -> Services:
    return app.extensions[EXTENSION_KEY]  # type: ignore[no-any-return]
