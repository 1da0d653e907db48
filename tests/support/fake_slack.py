"""A small fake of the Slack Web API, served over real HTTP on loopback.

It records every call, keeps the messages it was sent (so a test can read a channel the
way a user would), enforces a per-channel post rate with 429 + ``Retry-After`` when asked,
and can be scripted to answer 5xx, time out, or return ``ok: false`` errors.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str | None
    at: float
    status: int = 200
    error: str | None = None
    basic: tuple[str | None, str | None] | None = None


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


@dataclass
class Channel:
    id: str
    name: str
    member: bool = True
    private: bool = False


@dataclass
class FakeSlack:
    channels: dict[str, Channel] = field(default_factory=dict)
    # Posts allowed per second per channel; None: no limit.
    post_rate_limit: float | None = None
    calls: list[Call] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    tokens: set[str] | None = None  # None: any token is valid
    # OAuth: code -> (team_id, bot_token) that oauth.v2.access hands out for it.
    oauth_codes: dict[str, tuple[str, str]] = field(default_factory=dict)
    client_credentials: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._last_post: dict[str, float] = {}
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/api/"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> "FakeSlack":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(5)

    # --- scripting ----------------------------------------------------------------------

    def add_channel(self, channel_id: str, name: str, member: bool = True,
                    private: bool = False) -> Channel:
        channel = Channel(channel_id, name, member, private)
        self.channels[channel_id] = channel
        return channel

    def fail(self, method: str, *, status: int = 200, error: str | None = None,
             retry_after: float | None = None, delay: float = 0.0, times: int = 1,
             channel: str | None = None) -> None:
        with self._lock:
            self.faults.append(Fault(method, status, error, retry_after, delay, times, channel))

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
        call = Call(method, args, token, time.monotonic())
        if request.authorization and request.authorization.type == "basic":
            call.basic = (request.authorization.username, request.authorization.password)
        with self._lock:
            self.calls.append(call)
            fault = self._take_fault(method, args)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            call.status, call.error = fault.status, fault.error
            if fault.status != 200:
                headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after else {}
                body = {"ok": False, "error": "ratelimited"} if fault.status == 429 else "upstream error"
                return _respond(environ, start_response, body, fault.status, headers)
            return _respond(environ, start_response, {"ok": False, "error": fault.error})
        if self.tokens is not None and token not in self.tokens:
            call.error = "invalid_auth"
            return _respond(environ, start_response, {"ok": False, "error": "invalid_auth"})
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
        if channel.startswith("#"):
            return next((c for c in self.channels.values() if c.name == channel[1:]), None)
        return self.channels.get(channel)

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
        ts = f"{1700000000 + next(self._ts)}.000100"
        message = Message(
            channel=channel.id, ts=ts, text=str(args.get("text", "")),
            blocks=_blocks(args.get("blocks")), thread_ts=args.get("thread_ts"),
            reply_broadcast=bool(args.get("reply_broadcast")),
            metadata=_object(args.get("metadata")),
        )
        self.messages.append(message)
        return 200, {"ok": True, "channel": channel.id, "ts": ts, "message": {"text": message.text}}, {}

    def _api_chat_update(self, args: dict[str, Any], call: Call) -> Any:
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
        if channel is None:
            return 200, {"ok": False, "error": "channel_not_found"}, {}
        if channel.private:
            return 200, {"ok": False, "error": "method_not_supported_for_channel_type"}, {}
        channel.member = True
        return 200, {"ok": True, "channel": {"id": channel.id, "name": channel.name}}, {}

    def _api_conversations_history(self, args: dict[str, Any], call: Call) -> Any:
        channel = self._resolve(str(args.get("channel", "")))
        if channel is None:
            return 200, {"ok": False, "error": "channel_not_found"}, {}
        found = [m for m in self.messages if m.channel == channel.id and m.thread_ts is None]
        return 200, {"ok": True, "messages": [
            _listed(m, args) for m in reversed(found[-int(args.get("limit", 100)):])]}, {}

    def _api_conversations_replies(self, args: dict[str, Any], call: Call) -> Any:
        channel = self._resolve(str(args.get("channel", "")))
        if channel is None:
            return 200, {"ok": False, "error": "channel_not_found"}, {}
        ts = args.get("ts")
        found = [m for m in self.messages if m.channel == channel.id
                 and (m.ts == ts or m.thread_ts == ts)]
        return 200, {"ok": True, "messages": [_listed(m, args) for m in found]}, {}

    def _api_conversations_list(self, args: dict[str, Any], call: Call) -> Any:
        channels = [{"id": c.id, "name": c.name} for c in self.channels.values() if not c.private]
        return 200, {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}}, {}

    def _api_apps_connections_open(self, args: dict[str, Any], call: Call) -> Any:
        # No websocket here: answering an error makes the client retry later, which is
        # enough to show the service asked for a Socket Mode connection.
        return 200, {"ok": False, "error": "not_allowed_in_fake"}, {}

    def _api_auth_test(self, args: dict[str, Any], call: Call) -> Any:
        team = next((t for t, token in self.oauth_codes.values() if token == call.token), "T0FAKE")
        return 200, {"ok": True, "team_id": team, "user_id": "U0BOT", "bot_id": f"B{team}",
                     "url": "https://fake.slack.test/", "team": "Fake"}, {}

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
            "scope": "chat:write,channels:join,channels:read,commands", "bot_user_id": "U0BOT",
            "app_id": "A0APP", "team": {"id": team_id, "name": f"Team {team_id}"},
            "enterprise": None, "is_enterprise_install": False,
            "authed_user": {"id": "U0INSTALLER"},
        }, {}


def _arguments(request: Request) -> dict[str, Any]:
    if request.mimetype == "application/json":
        try:
            return dict(json.loads(request.get_data(as_text=True) or "{}"))
        except json.JSONDecodeError:
            return {}
    parsed = parse_qs(request.get_data(as_text=True))
    return {key: values[-1] for key, values in parsed.items()}


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
