"""A small fake of the Slack Web API, served over real HTTP on loopback.

It records every call, keeps the messages it was sent (so a test can read a channel the
way a user would), enforces a per-channel post rate with 429 + ``Retry-After`` when asked,
and can be scripted to answer 5xx, time out, or return ``ok: false`` errors.

It behaves as Slack documents, where our code depends on it:

- ``chat.postMessage`` takes an id or a ``#name`` (public, or private if the bot is a
  member) and answers with the channel's id; a 429 means nothing was posted;
- private channels never appear in ``conversations.list``; ``conversations.history``,
  ``.replies``, ``.join`` and ``chat.update`` take ids only;
- ``conversations.history``/``.replies`` may be limited, as for apps installed outside
  the Marketplace, to ``history_calls_per_minute`` calls per method and token (429 with
  ``Retry-After`` beyond) and ``history_page_limit`` messages a call;
- ``chat.update`` is a Tier 3 method: past 50 calls in a minute for one workspace, a 429
  with ``Retry-After`` (the seconds until the oldest call of the minute leaves it), and
  the message is not changed;
- message metadata comes back only with ``include_all_metadata``;
- ``users.info`` needs the ``users:read`` scope (``missing_scope`` otherwise, naming it
  in ``needed``), reads its arguments from the query string or a form body, and shows a
  user only to a token of the user's own workspace (``user_not_found`` otherwise);
- an outage (``go_down``): every call answers 503, or the port refuses connections (and
  the connections open are dropped);
- a token in ``refused_tokens`` gets that error (``token_revoked``, ``account_inactive``,
  ``invalid_auth``) from every method, ``auth.test`` included.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from werkzeug.wrappers import Request, Response

from bot.slack.oauth import BOT_SCOPES
from tests.support.call_windows import CallWindows
from tests.support.kept_alive import Connections, HangUp, kept_alive_server


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str | None
    at: float
    status: int = 200
    error: str | None = None
    basic: tuple[str | None, str | None] | None = None
    json_body: bool = False
    query: dict[str, Any] = field(default_factory=dict)  # the URL's arguments alone


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    reply_broadcast: bool = False
    updates: int = 0
    metadata: dict[str, Any] | None = None


@dataclass
class Fault:
    method: str
    status: int = 200
    error: str | None = None
    retry_after: float | None = None
    delay: float = 0.0
    remaining: int = 1
    channel: str | None = None  # only calls for this channel (None: any)
    # Slack did the work (posted the message) and then the answer was lost or failed.
    done_anyway: bool = False
    slow_only: bool = False  # answer normally, only ``delay`` seconds late
    hang_up: bool = False  # drop the connection instead of answering


@dataclass
class Channel:
    id: str
    name: str
    member: bool = True
    private: bool = False


@dataclass
class User:
    """A workspace member as ``users.info`` describes one."""

    id: str
    team_id: str
    name: str
    is_admin: bool = False
    is_owner: bool = False
    is_primary_owner: bool = False
    deleted: bool = False


# What a bot token may do unless a test says otherwise (``token_scopes``): what the app
# asks for when it is installed (its manifest says the same).
DEFAULT_SCOPES = frozenset(BOT_SCOPES)


@dataclass
class FakeSlack:
    channels: dict[str, Channel] = field(default_factory=dict)
    # Posts allowed per second per channel; None: no limit.
    post_rate_limit: float | None = None
    calls: list[Call] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    tokens: set[str] | None = None  # None: any token is valid
    # Tokens Slack no longer accepts, with the error every method answers for them:
    # token_revoked (app uninstalled, token rotated), account_inactive (workspace or bot
    # user deactivated), invalid_auth.
    refused_tokens: dict[str, str] = field(default_factory=dict)
    # Scopes granted to a token; a token not listed has DEFAULT_SCOPES.
    token_scopes: dict[str, frozenset[str]] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    # OAuth: code -> (team_id, bot_token) that oauth.v2.access hands out for it.
    oauth_codes: dict[str, tuple[str, str]] = field(default_factory=dict)
    client_credentials: tuple[str, str] | None = None
    # Apps installed outside the Marketplace: conversations.history and .replies allow
    # about one call a minute (per method and token) and 15 messages a call. None: no limit.
    history_calls_per_minute: int | None = None
    # The window those calls are counted in: Slack's minute; a test may shorten it.
    history_window: float = 60.0
    history_page_limit: int | None = None
    # Slack's Tier 3 for chat.update: this many calls a minute per workspace (None: no
    # limit), counted over ``update_window`` seconds (Slack's minute; a test may shorten it).
    updates_per_minute: int | None = 50
    update_window: float = 60.0
    # Where apps.connections.open sends Socket Mode clients (ws://127.0.0.1:…); None: nowhere.
    socket_mode_url: str | None = None
    # The outage in progress: None, "503" (every call answers 503) or "refuse".
    down: str | None = None
    went_down_at: float | None = None
    recovered_at: float | None = None
    # Served over TLS with this context (https://…); None: plain HTTP.
    tls: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ts = 0.0
        self._last_post: dict[str, float] = {}
        self._history_calls = CallWindows()
        self._update_calls = CallWindows()
        self._port = 0
        self.connections = Connections()
        self._serve()

    def _serve(self) -> None:
        self._server = kept_alive_server("127.0.0.1", self._port, self._wsgi, self.connections,
                                         self.tls)
        self._port = self._server.server_port
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{self._port}/api/"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> FakeSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self.down != "refuse":
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()
        self.connections.close_all()

    def go_down(self, mode: str = "503") -> None:
        """Start an outage: every call answers 503, or (``"refuse"``) no one listens."""
        assert mode in ("503", "refuse")
        self.went_down_at, self.recovered_at = time.monotonic(), None
        if mode == "refuse":
            self._server.shutdown()
            self._thread.join(5)
            self._server.server_close()
            self.connections.close_all()
        self.down = mode

    def come_back(self) -> None:
        """End the outage; ``recovered_at`` is when Slack answered again."""
        if self.down == "refuse":
            self._serve()
            self._thread.start()
        self.down = None
        self.recovered_at = time.monotonic()

    # --- scripting ----------------------------------------------------------------------

    def add_channel(self, channel_id: str, name: str, member: bool = True,
                    private: bool = False) -> Channel:
        channel = Channel(channel_id, name, member, private)
        self.channels[channel_id] = channel
        return channel

    def add_user(self, user_id: str, team_id: str = "T0FAKE", *, admin: bool = False,
                 owner: bool = False, primary_owner: bool = False) -> User:
        user = User(user_id, team_id, user_id.lower(), is_admin=admin or owner or primary_owner,
                    is_owner=owner or primary_owner, is_primary_owner=primary_owner)
        self.users[user_id] = user
        return user

    def fail(self, method: str, *, status: int = 200, error: str | None = None,
             retry_after: float | None = None, delay: float = 0.0, times: int = 1,
             channel: str | None = None, done_anyway: bool = False,
             hang_up: bool = False) -> None:
        """The next ``times`` calls of ``method`` fail so. ``done_anyway``: Slack did the
        work first (posted the message), then answered the error (a lost answer).
        ``hang_up``: the connection is dropped instead of answering."""
        assert not (done_anyway and status == 429), "a 429 means nothing was done"
        with self._lock:
            self.faults.append(Fault(method, status, error, retry_after, delay, times, channel,
                                     done_anyway, hang_up=hang_up))

    def close_idle_connections(self) -> int:
        """Close the connections waiting for a next call, as Slack does after a while
        idle (clients learn it when they next look); how many."""
        return self.connections.close_idle()

    def slow(self, method: str, delay: float, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer normally, ``delay`` seconds late."""
        with self._lock:
            self.faults.append(Fault(method, delay=delay, remaining=times, slow_only=True))

    # --- reading what happened -----------------------------------------------------------

    def calls_to(self, method: str, ok_only: bool = False) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method
                    and (not ok_only or (c.status == 200 and c.error is None))]

    def top_level(self, channel: str | None = None) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.thread_ts is None
                    and (channel is None or m.channel == channel)]

    def thread(self, parent: Message) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.thread_ts == parent.ts]

    # --- the server ----------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        method = request.path.rsplit("/", 1)[-1]
        args = _arguments(request)
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else args.get("token")
        call = Call(method, args, token, time.monotonic(),
                    json_body=request.mimetype == "application/json",
                    query={key: values[-1] for key, values in request.args.lists()})
        if request.authorization and request.authorization.type == "basic":
            call.basic = (request.authorization.username, request.authorization.password)
        with self._lock:
            self.calls.append(call)
            fault = self._take_fault(method, args) if self.down is None else Fault(method, 503)
        if fault is not None:
            if fault.done_anyway:
                handler = getattr(self, "_api_" + method.replace(".", "_"))
                with self._lock:
                    handler(args, call)
            if fault.delay:
                time.sleep(fault.delay)
            if fault.slow_only:
                fault = None
        if fault is not None and fault.hang_up:
            call.status, call.error = 0, "connection dropped"
            raise HangUp()
        if fault is not None:
            call.status, call.error = fault.status, fault.error
            if fault.status != 200:
                headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after else {}
                body = {"ok": False, "error": "ratelimited"} if fault.status == 429 else "upstream error"
                return _respond(environ, start_response, body, fault.status, headers)
            return _respond(environ, start_response, {"ok": False, "error": fault.error})
        if self.tokens is not None and token not in self.tokens:
            call.error = "invalid_auth"
            return _respond(environ, start_response, {"ok": False, "error": "invalid_auth"})
        if token in self.refused_tokens:
            call.error = self.refused_tokens[token]
            return _respond(environ, start_response, {"ok": False, "error": call.error})
        handler = getattr(self, "_api_" + method.replace(".", "_"), None)
        if handler is None:
            call.error = "unknown_method"
            return _respond(environ, start_response, {"ok": False, "error": "unknown_method"}, 404)
        with self._lock:
            status, body, headers = handler(args, call)
        if status != 200 or not body.get("ok"):
            call.status = status
            call.error = body.get("error", f"http_{status}")
        return _respond(environ, start_response, body, status, headers)

    def _take_fault(self, method: str, args: dict[str, Any]) -> Fault | None:
        for fault in self.faults:
            if fault.channel is not None and args.get("channel") != fault.channel:
                continue
            if fault.method == method and fault.remaining > 0:
                fault.remaining -= 1
                return fault
        return None

    def _resolve(self, channel: str) -> Channel | None:
        """A channel by id, or by name as chat.postMessage resolves names: a private
        channel the bot is not in does not exist for it."""
        if channel.startswith("#"):
            return next((c for c in self.channels.values() if c.name == channel[1:]
                         and (c.member or not c.private)), None)
        found = self.channels.get(channel)
        return None if found is None or (found.private and not found.member) else found

    def _api_chat_postMessage(self, args: dict[str, Any], call: Call) -> Any:
        channel = self._resolve(str(args.get("channel", "")))
        if channel is None:
            return 200, {"ok": False, "error": "channel_not_found"}, {}
        if not channel.member:
            return 200, {"ok": False, "error": "not_in_channel"}, {}
        if self.post_rate_limit:
            interval = 1.0 / self.post_rate_limit
            last = self._last_post.get(channel.id)
            if last is not None and call.at - last < interval * 0.98:
                wait = interval - (call.at - last)
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": f"{max(1, round(wait + 0.49))}"}
            self._last_post[channel.id] = call.at
        # Slack's ts is the epoch time of the message (unique per channel, rising).
        self._last_ts = max(time.time(), self._last_ts + 0.000001)
        ts = f"{self._last_ts:.6f}"
        message = Message(
            channel=channel.id, ts=ts, text=str(args.get("text", "")),
            blocks=_blocks(args.get("blocks")), thread_ts=args.get("thread_ts"),
            reply_broadcast=bool(args.get("reply_broadcast")),
            metadata=_object(args.get("metadata")),
        )
        self.messages.append(message)
        return 200, {"ok": True, "channel": channel.id, "ts": ts, "message": {"text": message.text}}, {}

    def _api_chat_update(self, args: dict[str, Any], call: Call) -> Any:
        limited = self._tier_3_limited(call)
        if limited:
            return limited
        for message in self.messages:
            if message.channel == args.get("channel") and message.ts == args.get("ts"):
                message.text = str(args.get("text", ""))
                message.blocks = _blocks(args.get("blocks"))
                message.updates += 1
                return 200, {"ok": True, "channel": message.channel, "ts": message.ts}, {}
        return 200, {"ok": False, "error": "message_not_found"}, {}

    def _api_chat_postEphemeral(self, args: dict[str, Any], call: Call) -> Any:
        return 200, {"ok": True, "message_ts": f"{time.time():.6f}"}, {}

    def _api_conversations_join(self, args: dict[str, Any], call: Call) -> Any:
        channel = self.channels.get(str(args.get("channel", "")))
        if channel is None or (channel.private and not channel.member):
            return 200, {"ok": False, "error": "channel_not_found"}, {}
        if channel.private:
            return 200, {"ok": False, "error": "method_not_supported_for_channel_type"}, {}
        channel.member = True
        return 200, {"ok": True, "channel": {"id": channel.id, "name": channel.name}}, {}

    def _readable(self, args: dict[str, Any]) -> tuple[Channel | None, Any]:
        """The channel a history read names (by id only), or the error Slack answers."""
        channel = self.channels.get(str(args.get("channel", "")))
        if channel is None or (channel.private and not channel.member):
            return None, (200, {"ok": False, "error": "channel_not_found"}, {})
        if not channel.member:
            return None, (200, {"ok": False, "error": "not_in_channel"}, {})
        return channel, None

    def _history_limited(self, method: str, call: Call) -> Any:
        """429 beyond ``history_calls_per_minute`` calls of ``method`` in a minute
        (``history_window``) per token."""
        return self._history_calls.refusal((method, call.token), call.at,
                                           self.history_calls_per_minute, self.history_window)

    def team_of(self, token: str | None) -> str:
        """The workspace a bot token belongs to (an OAuth install's, else the default)."""
        return next((team for team, bot_token in self.oauth_codes.values()
                     if bot_token == token), "T0FAKE")

    def _tier_3_limited(self, call: Call) -> Any:
        """429 past ``updates_per_minute`` chat.update calls of one workspace within
        ``update_window``; a refused call is not counted (nothing was done)."""
        return self._update_calls.refusal(self.team_of(call.token), call.at,
                                          self.updates_per_minute, self.update_window)

    def _page(self, found: list[Message], args: dict[str, Any]) -> dict[str, Any]:
        """One page of ``found`` as Slack serves it: only messages after ``oldest`` (and
        at it with ``inclusive``), up to ``limit`` (100 by default), and a cursor to the
        next page while there is one (``has_more``)."""
        oldest = float(args.get("oldest") or 0)
        inclusive = str(args.get("inclusive", "")).lower() in ("1", "true")
        found = [m for m in found if float(m.ts) > oldest or (inclusive and float(m.ts) == oldest)]
        limit = int(args.get("limit", 100))
        if self.history_page_limit is not None:
            limit = min(limit, self.history_page_limit)
        start = int(str(args.get("cursor") or "0").removeprefix("page:") or 0)
        page, more = found[start:start + limit], start + limit < len(found)
        return {"ok": True, "messages": [_listed(m, args) for m in page], "has_more": more,
                "response_metadata": {"next_cursor": f"page:{start + limit}" if more else ""}}

    def _api_conversations_history(self, args: dict[str, Any], call: Call) -> Any:
        limited = self._history_limited("conversations.history", call)
        if limited:
            return limited
        channel, refused = self._readable(args)
        if channel is None:
            return refused
        found = [m for m in reversed(self.messages)
                 if m.channel == channel.id and m.thread_ts is None]  # newest first
        return 200, self._page(found, args), {}

    def _api_conversations_replies(self, args: dict[str, Any], call: Call) -> Any:
        limited = self._history_limited("conversations.replies", call)
        if limited:
            return limited
        channel, refused = self._readable(args)
        if channel is None:
            return refused
        ts = args.get("ts")
        found = [m for m in self.messages if m.channel == channel.id
                 and (m.ts == ts or m.thread_ts == ts)]  # oldest first, the parent first
        return 200, self._page(found, args), {}

    def _api_conversations_list(self, args: dict[str, Any], call: Call) -> Any:
        channels = [{"id": c.id, "name": c.name} for c in self.channels.values() if not c.private]
        return 200, {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}}, {}

    def _api_apps_connections_open(self, args: dict[str, Any], call: Call) -> Any:
        # Without a socket server (tests/support/fake_socket_mode.py) an error: the client
        # retries later, which is enough to show the service asked for a connection.
        if self.socket_mode_url is None:
            return 200, {"ok": False, "error": "not_allowed_in_fake"}, {}
        return 200, {"ok": True, "url": self.socket_mode_url}, {}

    def _api_auth_test(self, args: dict[str, Any], call: Call) -> Any:
        # As Slack documents it for a bot token: the workspace, the bot user and its bot.
        team = self.team_of(call.token)
        return 200, {"ok": True, "url": "https://fake.slack.test/", "team": "Fake",
                     "user": "thousandeyes_alerts", "team_id": team, "user_id": "U0BOT",
                     "bot_id": f"B{team}", "is_enterprise_install": False}, {}

    def _api_users_info(self, args: dict[str, Any], call: Call) -> Any:
        # Slack reads this method's arguments from the query or a form body, not JSON.
        if call.json_body:
            args = call.query
        granted = self.token_scopes.get(call.token or "", DEFAULT_SCOPES)
        if "users:read" not in granted:
            return 200, {"ok": False, "error": "missing_scope", "needed": "users:read",
                         "provided": ",".join(sorted(granted))}, {}
        user = self.users.get(str(args.get("user", "")))
        if user is None or user.team_id != self.team_of(call.token):
            return 200, {"ok": False, "error": "user_not_found"}, {}
        return 200, {"ok": True, "user": {
            "id": user.id, "team_id": user.team_id, "name": user.name, "deleted": user.deleted,
            "real_name": user.name.title(), "is_admin": user.is_admin,
            "is_owner": user.is_owner, "is_primary_owner": user.is_primary_owner,
            "is_restricted": False, "is_ultra_restricted": False, "is_bot": False,
            "is_app_user": False, "updated": 1700000000,
            "profile": {"display_name": user.name, "real_name": user.name.title()},
        }}, {}

    def _api_oauth_v2_access(self, args: dict[str, Any], call: Call) -> Any:
        if self.client_credentials is not None:
            given = call.basic or (args.get("client_id"), args.get("client_secret"))
            if given != self.client_credentials:
                return 200, {"ok": False, "error": "invalid_client_id"}, {}
        grant = self.oauth_codes.get(str(args.get("code", "")))
        if grant is None:
            return 200, {"ok": False, "error": "invalid_code"}, {}
        team_id, bot_token = grant
        return 200, {
            "ok": True, "access_token": bot_token, "token_type": "bot",
            "scope": ",".join(sorted(self.token_scopes.get(bot_token, DEFAULT_SCOPES))),
            "bot_user_id": "U0BOT",
            "app_id": "A0APP", "team": {"id": team_id, "name": f"Team {team_id}"},
            "enterprise": None, "is_enterprise_install": False,
            "authed_user": {"id": "U0INSTALLER"},
        }, {}


def _arguments(request: Request) -> dict[str, Any]:
    query = {key: values[-1] for key, values in request.args.lists()}
    if request.mimetype == "application/json":
        try:
            return query | dict(json.loads(request.get_data(as_text=True) or "{}"))
        except json.JSONDecodeError:
            return query
    parsed = parse_qs(request.get_data(as_text=True))
    return query | {key: values[-1] for key, values in parsed.items()}


def _object(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    return dict(value) if isinstance(value, dict) else None


def _listed(message: Message, args: dict[str, Any]) -> dict[str, Any]:
    listed: dict[str, Any] = {"type": "message", "ts": message.ts, "text": message.text}
    if message.thread_ts:
        listed["thread_ts"] = message.thread_ts
    if message.metadata and str(args.get("include_all_metadata")).lower() in ("true", "1"):
        listed["metadata"] = message.metadata
    return listed


def _blocks(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return []
    return list(value) if isinstance(value, list) else []


def _respond(environ: dict[str, Any], start_response: Any, body: Any, status: int = 200,
             headers: dict[str, str] | None = None) -> Any:
    if isinstance(body, dict):
        response = Response(json.dumps(body), status=status, mimetype="application/json")
    else:
        response = Response(str(body), status=status, mimetype="text/plain")
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response(environ, start_response)
