"""The few Slack Web API calls delivery makes, with failures mapped to typed errors.

Retries are the outbox's job, not the client's: the ``WebClient`` keeps only one retry of
a call that never reached Slack (bot.slack.keepalive), so a 429 comes straight back to us
and blocks only its own channel, and a post whose answer was lost is never sent twice.
"""

from __future__ import annotations

import http.client
import itertools
import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from slack_sdk.errors import SlackApiError, SlackRequestError

from bot.render.blockkit import block_kit_builder_url
from bot.render.plain_text import INDENT, plain_text
from bot.slack.errors import (
    PermanentError,
    RateLimited,
    SlackDeliveryError,
    SlackUnavailable,
    error_for_code,
)
from bot.slack.keepalive import KeepAliveWebClient, KeptConnections

log = logging.getLogger(__name__)

# Prefix of the ts that log-only mode records, so a later real Slack never tries to
# update a message that was only ever written to the log.
LOG_ONLY_TS_PREFIX = "log-only-"
# Message metadata type that carries a delivery job's marker (see handlers._post).
POST_MARKER_EVENT = "thousandeyes_alert_post"
# At most this many pages of history since the post was attempted (a job stays within
# its lease): 300 messages at the 15 a page Slack gives apps outside the Marketplace.
_LOOKBACK_PAGES = 20


@dataclass(frozen=True)
class Posted:
    channel: str  # the channel id Slack resolved (a name in, an id out)
    ts: str


@dataclass(frozen=True)
class SlackUser:
    """What ``users.info`` says of a member that decides what they may manage."""

    id: str
    team_id: str | None
    deleted: bool
    is_admin: bool
    is_owner: bool
    is_primary_owner: bool

    @property
    def administers(self) -> bool:
        """An admin or owner of the workspace (Slack sets is_admin for owners too; all
        three are read in case it does not)."""
        return not self.deleted and (self.is_admin or self.is_owner or self.is_primary_owner)


class SlackGateway(Protocol):
    log_only: bool

    def post_message(
        self, channel: str, text: str, blocks: list[dict[str, Any]] | None, *,
        thread_ts: str | None = None, reply_broadcast: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> Posted: ...

    def update_message(
        self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None
    ) -> None: ...

    def join_channel(self, channel: str) -> str: ...

    def find_posted(
        self, channel: str, marker: str, *, oldest: float, thread_ts: str | None = None,
    ) -> Posted | None: ...

    def user_info(self, user_id: str) -> SlackUser: ...


class WebApiGateway:
    """Slack over HTTP through slack-sdk's ``WebClient``, on kept-alive ``connections``
    (its own unless given: a provider shares one set among its tokens' gateways)."""

    log_only = False

    def __init__(self, token: str, base_url: str, timeout: float = 10.0,
                 connections: KeptConnections | None = None) -> None:
        self._client = KeepAliveWebClient(connections or KeptConnections(), token=token,
                                          base_url=base_url, timeout=timeout)

    def post_message(
        self, channel: str, text: str, blocks: list[dict[str, Any]] | None, *,
        thread_ts: str | None = None, reply_broadcast: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> Posted:
        arguments: dict[str, Any] = {
            "channel": channel, "text": text, "unfurl_links": False, "unfurl_media": False,
        }
        if blocks is not None:
            arguments["blocks"] = blocks
        if thread_ts:
            arguments["thread_ts"] = thread_ts
            if reply_broadcast:
                arguments["reply_broadcast"] = True
        if metadata:
            arguments["metadata"] = metadata
        data = self._call("chat.postMessage", arguments)
        if not data.get("ts"):
            raise PermanentError("bad_response", "chat.postMessage answered ok without a ts")
        return Posted(channel=str(data.get("channel") or channel), ts=str(data["ts"]))

    def update_message(
        self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None
    ) -> None:
        arguments: dict[str, Any] = {"channel": channel, "ts": ts, "text": text}
        # An empty list clears the old blocks (buttons) rather than leaving them.
        arguments["blocks"] = blocks if blocks is not None else []
        self._call("chat.update", arguments)

    def join_channel(self, channel: str) -> str:
        """Join a public channel given by id or ``#name``; returns its id.

        ``conversations.join`` takes only ids. Only public channels can be joined, and
        those are the ones ``conversations.list`` shows, so a name is looked up there for
        this one call; a private channel needs an invitation instead.
        """
        channel_id = channel if not channel.startswith("#") else self._public_channel_id(channel[1:])
        data = self._call("conversations.join", {"channel": channel_id})
        return str((data.get("channel") or {}).get("id") or channel_id)

    def find_posted(
        self, channel: str, marker: str, *, oldest: float, thread_ts: str | None = None,
    ) -> Posted | None:
        """The message posted since ``oldest`` whose metadata carries ``marker``, if
        Slack has one.

        Read back by time, as far as the post could be (``oldest``: when it was
        attempted, less a margin), in the pages Slack serves (as few as 15 messages for
        apps outside the Marketplace), not a fixed number of messages that a busy
        channel would push the post out of. ``channel`` must be an id: names are
        resolved by posting, never by listing (``conversations.list`` never shows
        private channels). Needs the history scopes; without them (or for another
        permanent reason) we cannot tell, and the caller posts. A 429 on the first read
        is raised: the caller decides; on a later page, we cannot tell.
        """
        method, arguments = "conversations.history", {
            "channel": channel, "oldest": f"{max(0.0, oldest):.6f}",
            "include_all_metadata": True,
        }
        if thread_ts:
            method = "conversations.replies"
            arguments["ts"] = thread_ts
        for page in range(_LOOKBACK_PAGES):
            try:
                data = self._call(method, arguments)
            except PermanentError as error:
                log.warning("cannot check whether %s was already posted (%s); posting",
                            marker, error)
                return None
            except RateLimited:
                if page == 0:
                    raise
                log.warning("Slack limited page %d of the look-up for %s; posting", page + 1,
                            marker)
                return None
            for message in data.get("messages") or []:
                metadata = message.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                if (metadata.get("event_type") == POST_MARKER_EVENT
                        and payload.get("marker") == marker):
                    return Posted(channel=channel, ts=str(message.get("ts")))
            cursor = (data.get("response_metadata") or {}).get("next_cursor")
            if not data.get("has_more") or not cursor:
                return None
            arguments["cursor"] = cursor
        return None

    def auth_test(self) -> dict[str, Any]:
        """``auth.test``: whether Slack accepts the token (its workspace, user and bot ids);
        a refused token raises :class:`PermanentError` with Slack's code."""
        return self._call("auth.test", {})

    def user_info(self, user_id: str) -> SlackUser:
        """``users.info`` (scope ``users:read``), as a query: Slack reads this method's
        arguments from the query or a form, not from JSON."""
        data = self._call("users.info", {"user": user_id}, query=True)
        user = data.get("user") or {}
        if not isinstance(user, dict) or user.get("id") != user_id:
            raise PermanentError("bad_response", "users.info answered ok without the user")
        return SlackUser(
            id=user_id, team_id=user.get("team_id") or None, deleted=user.get("deleted") is True,
            is_admin=user.get("is_admin") is True, is_owner=user.get("is_owner") is True,
            is_primary_owner=user.get("is_primary_owner") is True,
        )

    def _public_channel_id(self, name: str) -> str:
        cursor = None
        for _page in range(5):  # 5,000 channels; bounded so a job stays within its lease
            arguments: dict[str, Any] = {
                "types": "public_channel", "exclude_archived": True, "limit": 1000,
            }
            if cursor:
                arguments["cursor"] = cursor
            data = self._call("conversations.list", arguments)
            for channel in data.get("channels", []):
                if channel.get("name") == name:
                    return str(channel["id"])
            cursor = (data.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        raise PermanentError(
            "not_in_channel", f"#{name} is not a public channel the bot can join: invite"
            " the bot with /invite"
        )

    def _call(self, method: str, arguments: dict[str, Any], *, query: bool = False
              ) -> dict[str, Any]:
        try:
            response = (self._client.api_call(method, http_verb="GET", params=arguments)
                        if query else self._client.api_call(method, json=arguments))
        except SlackApiError as error:
            raise _classify_api_error(method, error) from error
        except (OSError, http.client.HTTPException) as error:
            # URLError, timeouts, resets and TLS errors are all OSErrors: the network,
            # not the request, failed, so the same call may succeed later. A refused
            # connection never carried the request; any other may have.
            refused = isinstance(error, ConnectionRefusedError) or isinstance(
                getattr(error, "reason", None), ConnectionRefusedError)
            raise SlackUnavailable("connection_refused" if refused else "connection_error",
                                   f"{method}: {error}", answer_lost=not refused) from error
        except SlackRequestError as error:
            raise PermanentError("bad_request", f"{method}: {error}") from error
        return dict(response.data) if isinstance(response.data, dict) else {}


def _classify_api_error(method: str, error: SlackApiError) -> SlackDeliveryError:
    response = error.response
    status = response.status_code
    data = response.data if isinstance(response.data, dict) else {}
    code = str(data.get("error") or f"http_{status}")
    if status == 429:
        return RateLimited(_retry_after(response.headers), f"{method} answered 429")
    if status >= 500:
        return SlackUnavailable(f"http_{status}", f"{method}: {code[:200]}")
    detail = method
    messages = (data.get("response_metadata") or {}).get("messages")
    if isinstance(messages, list) and messages:
        detail += ": " + "; ".join(str(m) for m in messages)[:500]
    return error_for_code(code, detail)


def _retry_after(headers: dict[str, Any]) -> float:
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                break
    return 1.0  # Slack always sends it; if it did not, wait a polite second


class LogOnlyGateway:
    """Stands in for Slack when no bot token is set: every message goes to the log."""

    log_only = True

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def post_message(
        self, channel: str, text: str, blocks: list[dict[str, Any]] | None, *,
        thread_ts: str | None = None, reply_broadcast: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> Posted:
        ts = f"{LOG_ONLY_TS_PREFIX}{next(self._counter)}"
        where = (channel or "(no channel)") + (f" in thread {thread_ts}" if thread_ts else "")
        _log_message(f"post to {where}", text, blocks)
        return Posted(channel=channel, ts=ts)

    def update_message(
        self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None
    ) -> None:
        _log_message(f"update {ts} in {channel or '(no channel)'}", text, blocks)

    def join_channel(self, channel: str) -> str:
        return channel

    def find_posted(
        self, channel: str, marker: str, *, oldest: float, thread_ts: str | None = None,
    ) -> Posted | None:
        return None  # the log keeps no messages to find

    def user_info(self, user_id: str) -> SlackUser:
        raise PermanentError("log_only", "without SLACK_BOT_TOKEN, Slack cannot be asked"
                             " who is a workspace admin")


def _log_message(what: str, text: str, blocks: list[dict[str, Any]] | None) -> None:
    """The message as a person reads it at INFO; its Block Kit JSON, and a Block Kit
    Builder link to see it as Slack would, at DEBUG."""
    log.info("log-only delivery (no SLACK_BOT_TOKEN): %s:\n%s%s", what, INDENT,
             plain_text(text, blocks))
    if log.isEnabledFor(logging.DEBUG):
        log.debug("Block Kit of that message: %s",
                  json.dumps({"text": text, "blocks": blocks}, ensure_ascii=False))
        log.debug("Block Kit Builder: %s", block_kit_builder_url(blocks or []))
