"""Requests as Slack sends them: form-encoded, signed with the signing secret."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

import requests

SIGNING_SECRET = "test-signing-secret"
# Slack gives every invocation its own trigger_id, so two commands typed alike within a
# second are two requests, never one request seen twice.
_invocations = itertools.count(1)


def signed_headers(body: str, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    base = f"v0:{timestamp}:{body}".encode()
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": signature,
    }


def block_action_body(action_id: str, value: str, **kwargs: Any) -> str:
    """The click as Slack POSTs it: form-encoded ``payload=`` JSON."""
    return urlencode({"payload": json.dumps(block_action_payload(action_id, value, **kwargs))})


def block_action_payload(action_id: str, value: str, *, user_id: str, user_name: str,
                         channel_id: str, message_ts: str,
                         team_id: str = "T0FAKE") -> dict[str, Any]:
    """A ``block_actions`` payload, as it arrives over HTTP or in a Socket Mode envelope."""
    return {
        "type": "block_actions",
        "team": {"id": team_id, "domain": "fake"},
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": "A0APP",
        "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel_id,
                      "is_ephemeral": False},
        "trigger_id": "123.456.abc",
        "channel": {"id": channel_id, "name": "alerts"},
        "message": {"type": "message", "ts": message_ts, "text": "alert"},
        "response_url": "https://hooks.slack.invalid/actions/T0FAKE/1/abc",
        "actions": [{
            "action_id": action_id, "block_id": "te_actions", "value": value, "type": "button",
            "text": {"type": "plain_text", "text": "Acknowledge"},
            "action_ts": f"{time.time():.6f}",
        }],
    }


def slash_command_body(text: str, *, channel_id: str, user_id: str = "U0ALICE",
                       command: str = "/thousandeyes", team_id: str = "T0FAKE",
                       user_name: str | None = None) -> str:
    invocation = next(_invocations)
    return urlencode({
        "token": "legacy", "team_id": team_id, "team_domain": "fake", "channel_id": channel_id,
        "channel_name": "alerts", "user_id": user_id,
        "user_name": user_name or user_id.removeprefix("U0").lower(), "command": command,
        "text": text, "api_app_id": "A0APP", "response_url": "https://hooks.slack.invalid/cmd",
        "trigger_id": f"{invocation}.{time.time_ns()}.{invocation:x}",
    })


def post_to_slack_endpoint(server_url: str, body: str, headers: dict[str, str]) -> requests.Response:
    return requests.post(server_url + "/slack/events", data=body, headers=headers, timeout=10)


def click(server_url: str, action_id: str, value: str, **kwargs: Any) -> requests.Response:
    body = block_action_body(action_id, value, **kwargs)
    return post_to_slack_endpoint(server_url, body, signed_headers(body))


def choose(server_url: str, action_id: str, option_value: str, **kwargs: Any) -> requests.Response:
    """A choice in an ``overflow`` menu, as Slack POSTs it: the action carries the
    ``selected_option`` (its text and value), not a ``value`` of its own."""
    payload = block_action_payload(action_id, "", **kwargs)
    payload["actions"] = [{
        "action_id": action_id, "block_id": "te_actions", "type": "overflow",
        "selected_option": {"text": {"type": "plain_text", "text": option_value},
                            "value": option_value},
        "action_ts": f"{time.time():.6f}",
    }]
    body = urlencode({"payload": json.dumps(payload)})
    return post_to_slack_endpoint(server_url, body, signed_headers(body))


def pick(server_url: str, action_id: str, value: str, **kwargs: Any) -> requests.Response:
    """A choice in a ``static_select`` menu, as Slack POSTs it: the picked option instead
    of a button's value."""
    payload = block_action_payload(action_id, value, **kwargs)
    payload["actions"][0].pop("value")
    payload["actions"][0].update(type="static_select", selected_option={
        "text": {"type": "plain_text", "text": "an alert"}, "value": value})
    body = urlencode({"payload": json.dumps(payload)})
    return post_to_slack_endpoint(server_url, body, signed_headers(body))
