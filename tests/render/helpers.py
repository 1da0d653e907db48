"""Builders and the Block Kit assertion used across the render tests."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.render import RenderedMessage
from bot.render.view import AlertView, DisplayState, Responder
from bot.thousandeyes import Event, parse_event

PAYLOADS_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "payloads"
ALERT_PAYLOADS = (
    "alert_notification_trigger",
    "alert_notification_clear",
    "agent_alert_notification_trigger",
    "agent_alert_notification_clear",
)

ALICE = "U0ALICE01"
BOB = "U0BOB0002"

# Slack tokens the templates may produce: links, user mentions and date tokens. Anything
# else between < and > (<!channel>, <!here>, <!subteam^...>, <#C1>) must never appear.
_ALLOWED_TOKEN = re.compile(
    r"^(?:https?://[^\s|<>]+(?:\|[^<>]*)?"
    r"|@[UW][A-Z0-9]+"
    r"|!date\^\d+\^[^|<>]*\|[^<>]*)$"
)
_BAD_ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


def load_payload(name: str) -> dict[str, Any]:
    return json.loads((PAYLOADS_DIR / f"{name}.json").read_text())


def load_event(name: str) -> Event:
    return parse_event(load_payload(name))


def responders(start: datetime, *names: tuple[str, str, int]) -> tuple[Responder, ...]:
    """(user_id, name, minutes after start) -> Responder tuples."""
    return tuple(Responder(uid, name, start + timedelta(minutes=mins)) for uid, name, mins in names)


def make_view(
    event: Event,
    state: DisplayState,
    *,
    people: tuple[Responder, ...] | None = None,
    trigger_count: int = 1,
    alert_ref: str = "alert:42",
) -> AlertView:
    """The view the store would build for ``event`` in ``state``.

    Acknowledged and cleared views get Alice (2 min) and Bob (5 min) unless told
    otherwise; cleared views use the payload's dateEnd, else start + 8m 4s.
    """
    alert = event.alert
    assert alert is not None
    start = alert.date_start or datetime(2024, 1, 1)
    if people is None:
        people = () if state is DisplayState.TRIGGERED else responders(
            start, (ALICE, "Alice", 2), (BOB, "Bob", 5)
        )
    cleared_at = None
    if state is DisplayState.CLEARED:
        cleared_at = alert.date_end or start + timedelta(minutes=8, seconds=4)
    return AlertView(
        alert_ref=alert_ref,
        kind=event.alert_kind,
        state=state,
        alert=alert,
        first_seen_at=start,
        triggered_at=start,
        cleared_at=cleared_at,
        trigger_count=trigger_count,
        responders=people,
        first_acknowledged_at=min((p.acknowledged_at for p in people), default=None),
    )


def with_alert(view: AlertView, **changes: Any) -> AlertView:
    return replace(view, alert=replace(view.alert, **changes))


def iter_strings(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """Every (key, string) pair inside a decoded message."""
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from iter_strings(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from iter_strings(v, key)


def all_text(message: RenderedMessage) -> str:
    """Everything a reader could see: fallback text plus every text field."""
    parts = [message.text]
    parts += [s for k, s in iter_strings(message.blocks) if k == "text"]
    return "\n".join(parts)


def buttons(message: RenderedMessage) -> dict[str, dict[str, Any]]:
    """Buttons by action_id."""
    found = {}
    for block in message.blocks:
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            if element.get("type") == "button":
                found[element["action_id"]] = element
    return found


def assert_valid_message(message: RenderedMessage) -> None:
    """What Slack would accept: Block Kit limits, uniqueness, and no live special tokens."""
    assert isinstance(message, RenderedMessage)
    assert isinstance(message.text, str) and message.text.strip()
    assert len(message.text) <= 40_000
    payload = json.loads(json.dumps(message.payload()))  # serialisable, round-trips
    assert payload == message.payload()
    blocks = message.blocks
    assert isinstance(blocks, list) and len(blocks) <= 50
    action_ids: list[str] = []
    block_ids: list[str] = []
    for block in blocks:
        kind = block["type"]
        if "block_id" in block:
            block_ids.append(block["block_id"])
            assert 0 < len(block["block_id"]) <= 255
        if kind == "header":
            assert block["text"]["type"] == "plain_text"
            assert 0 < len(block["text"]["text"]) <= 150
        elif kind == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert 0 < len(block["text"]["text"]) <= 3000
            if "fields" in block:
                assert 0 < len(block["fields"]) <= 10
                for f in block["fields"]:
                    assert 0 < len(f["text"]) <= 2000
        elif kind == "context":
            assert 0 < len(block["elements"]) <= 10
            for element in block["elements"]:
                assert 0 < len(element["text"]) <= 3000
        elif kind == "actions":
            assert 0 < len(block["elements"]) <= 25
            for element in block["elements"]:
                action_ids.append(element["action_id"])
                if element["type"] == "overflow":  # 2 to 5 options, values up to 150
                    assert 2 <= len(element["options"]) <= 5
                    for option in element["options"]:
                        assert option["text"]["type"] == "plain_text"
                        assert 0 < len(option["text"]["text"]) <= 75
                        assert 0 < len(option["value"]) <= 150
                    continue
                assert element["type"] == "button"
                assert element["text"]["type"] == "plain_text"
                assert 0 < len(element["text"]["text"]) <= 75
                assert len(element.get("value", "")) <= 2000
                if "url" in element:
                    assert 0 < len(element["url"]) <= 3000
                    assert element["url"].startswith(("https://", "http://"))
                    assert not set(element["url"]) & set('<>| "\\\n')
        else:
            assert kind == "divider", f"unexpected block type {kind}"
    assert len(action_ids) == len(set(action_ids)), action_ids
    assert len(block_ids) == len(set(block_ids)), block_ids
    for key, text in iter_strings(payload):
        if key != "text":
            continue
        for token in re.findall(r"<([^<>]*)>", text):
            assert _ALLOWED_TOKEN.match(token), f"live Slack token <{token}> in {text!r:.300}"
        stripped = re.sub(r"<[^<>]*>", "", text)
        assert "<" not in stripped and ">" not in stripped, f"unbalanced < > in {text!r:.300}"
        assert not _BAD_ENTITY.search(text), f"unescaped & in {text!r:.300}"
