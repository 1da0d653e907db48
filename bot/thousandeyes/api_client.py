"""The ThousandEyes API link: the official SDK's client, built once from the configuration.

Every caller (the sync, a snooze sent upstream, enrichment) gets its API objects here, so
the choices below hold everywhere:

- the base URL is ``THOUSANDEYES_API_URL`` and the bearer token ``THOUSANDEYES_API_TOKEN``
  (the SDK sends it as ``Authorization: Bearer``; nothing here logs it);
- the SDK retries nothing. By default it sleeps inside the request until a 429's
  ``X-Organization-Rate-Limit-Reset`` and repeats a timed-out GET three times; a caller
  that holds a lease or answers a person must never wait that way, so a 429 reaches the
  caller at once and the caller honours the reset itself (:mod:`.api_errors`);
- every call has a deadline (:data:`CALL_TIMEOUT`, connect and read) passed as the SDK's
  ``_request_timeout``: use :meth:`ThousandEyesApi.timeout` for it;
- ``THOUSANDEYES_ACCOUNT_GROUP``, when set, is the ``aid`` of every call
  (:meth:`ThousandEyesApi.aid`).

Nothing here reads the environment or opens a connection at import time; the config is
any object with the three ``thousandeyes_api_*`` attributes (``bot.config.Config``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

from thousandeyes_sdk.alerts import AlertRulesApi, AlertsApi, AlertSuppressionWindowsApi
from thousandeyes_sdk.core import ApiClient, Configuration
from thousandeyes_sdk.core.thousandeyes_retry import ThousandEyesRetry

log = logging.getLogger(__name__)

# (connect, read) seconds for one call: the API answers a page of alerts in well under a
# second; a call slower than this is treated as the API being unreachable.
CALL_TIMEOUT: tuple[float, float] = (5.0, 20.0)
# Connections kept to the API: the sync uses one, snoozes and enrichment a few more.
POOL_SIZE = 4
USER_AGENT = "thousandeyes-slack-bot"


class ApiSettings(Protocol):
    """What the link needs from the configuration (``bot.config.Config`` has it)."""

    @property
    def thousandeyes_api_token(self) -> str | None: ...
    @property
    def thousandeyes_api_url(self) -> str: ...
    @property
    def thousandeyes_account_group(self) -> str | None: ...


def no_retries() -> ThousandEyesRetry:
    """The SDK's retry policy with every retry off: errors reach the caller at once."""
    return ThousandEyesRetry(total=0, connect=0, read=0, status=0, other=0, redirect=0)


@dataclass
class ThousandEyesApi:
    """The SDK's client for one account group, and the APIs the service uses."""

    client: ApiClient
    account_group: str | None = None
    call_timeout: tuple[float, float] = CALL_TIMEOUT
    alerts: AlertsApi = field(init=False)
    rules: AlertRulesApi = field(init=False)
    suppression_windows: AlertSuppressionWindowsApi = field(init=False)

    def __post_init__(self) -> None:
        self.alerts = AlertsApi(self.client)
        self.rules = AlertRulesApi(self.client)
        self.suppression_windows = AlertSuppressionWindowsApi(self.client)

    @property
    def timeout(self) -> tuple[float, float]:
        """Pass as ``_request_timeout=`` to every SDK call."""
        return self.call_timeout

    @property
    def aid(self) -> str | None:
        """Pass as ``aid=`` to every SDK call (None: the token's default account group)."""
        return self.account_group

    def close(self) -> None:
        self.client.close()


def build_api(settings: ApiSettings,
              call_timeout: tuple[float, float] = CALL_TIMEOUT) -> ThousandEyesApi | None:
    """The API link for ``settings``; None when no token is set (the link is off)."""
    token = settings.thousandeyes_api_token
    if not token:
        return None
    configuration = Configuration(host=settings.thousandeyes_api_url.rstrip("/"),
                                  access_token=token, retries=no_retries())
    configuration.connection_pool_maxsize = POOL_SIZE
    client = ApiClient(configuration)
    client.user_agent = USER_AGENT
    log.info("ThousandEyes API link: %s%s", configuration.host,
             f" (account group {settings.thousandeyes_account_group})"
             if settings.thousandeyes_account_group else "")
    return ThousandEyesApi(client, settings.thousandeyes_account_group, call_timeout)
