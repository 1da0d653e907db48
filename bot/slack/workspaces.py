"""Which bot token delivers a job: the workspace's installation, or the single token.

With ``SLACK_CLIENT_ID``/``SLACK_CLIENT_SECRET`` set, each workspace that installed the
app has its own bot token in slack-sdk's installation store; without them, the one
``SLACK_BOT_TOKEN`` serves every job (single-workspace mode).
"""

from __future__ import annotations

import threading

from slack_sdk.oauth.installation_store import InstallationStore

from bot.config import Config, SlackMode
from bot.slack.errors import PermanentError
from bot.slack.gateway import LogOnlyGateway, SlackGateway, WebApiGateway
from bot.slack.keepalive import KeptConnections


class GatewayProvider:
    def __init__(self, config: Config, installation_store: InstallationStore | None = None) -> None:
        self._config = config
        self._store = installation_store
        self._lock = threading.Lock()
        self._by_token: dict[str, SlackGateway] = {}
        # One kept-alive connection per thread to Slack, whichever token a call carries.
        self._connections = KeptConnections()
        self._default: SlackGateway = (
            self._web(config.slack_bot_token) if config.slack_bot_token else LogOnlyGateway()
        )

    @property
    def log_only(self) -> bool:
        return self._config.slack_mode is SlackMode.LOG_ONLY

    def for_team(self, team_id: str | None) -> SlackGateway:
        """The gateway for ``team_id``; raises PermanentError when it has no install."""
        if self._store is None or team_id is None:
            return self._default
        bot = self._store.find_bot(enterprise_id=None, team_id=team_id)
        if bot is None or not bot.bot_token:
            raise PermanentError(
                "not_installed",
                f"workspace {team_id} has not installed the app (or uninstalled it);"
                " install it again at /slack/install",
            )
        return self._web(bot.bot_token)

    def _web(self, token: str) -> SlackGateway:
        with self._lock:
            gateway = self._by_token.get(token)
            if gateway is None:
                gateway = WebApiGateway(token, self._config.slack_api_url,
                                        self._config.slack_timeout, self._connections)
                self._by_token[token] = gateway
            return gateway

    def close(self) -> None:
        """Close the connections kept to Slack (a later call opens a new one)."""
        self._connections.close()
