"""A rendered Block Kit message as a few lines a person reads in a log.

Log-only mode (no Slack credentials) writes every message it would post; as one line of
Block Kit JSON that was 0.5 to 3 KB nobody read. Here: the header, each section's text,
fields as ``name: value``, context lines, and the buttons, with Slack's mrkdwn tokens
(links, mentions, dates) turned into their readable label.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_TOKEN = re.compile(r"<([^<>]*)>")
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))
INDENT = "  "


def plain_text(text: str, blocks: Iterable[dict[str, Any]] | None) -> str:
    """The message as lines of text; ``text`` (the notification fallback) when no block
    says anything."""
    lines: list[str] = []
    for block in blocks or ():
        lines.extend(_block_lines(block))
    if not lines:
        lines = readable(text).splitlines() or [""]
    return "\n".join([lines[0], *(INDENT + line for line in lines[1:])])


def readable(mrkdwn: str) -> str:
    """Slack mrkdwn as plain text: ``<url|label>`` → label, ``<@U1>`` → @U1,
    ``<!date^…|fallback>`` → fallback, ``<!here>`` → @here, ``*bold*`` → bold."""
    def token(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("!date^"):
            return label or target
        if target.startswith(("!subteam^", "@", "#")):
            return label or target.lstrip("!").split("^")[0]
        if target.startswith("!"):
            return "@" + (label or target[1:])
        return label or target
    text = _BOLD.sub(r"\1", _TOKEN.sub(token, mrkdwn))
    for entity, character in _ENTITIES:
        text = text.replace(entity, character)
    return text


def _block_lines(block: dict[str, Any]) -> list[str]:
    kind = block.get("type")
    if kind == "header":
        return [_text_of(block.get("text"))]
    if kind == "section":
        lines = _text_of(block.get("text")).splitlines() if block.get("text") else []
        lines += [_field(field) for field in block.get("fields") or ()]
        return [line for line in lines if line.strip()]
    if kind == "context":
        return [" · ".join(_text_of(element) for element in block.get("elements") or ()
                           if element.get("type") != "image")]
    if kind == "actions":
        controls = [_control(element) for element in block.get("elements") or ()]
        return ["Buttons: " + " ".join(c for c in controls if c)] if any(controls) else []
    return []  # dividers and images say nothing in a log


def _control(element: dict[str, Any]) -> str:
    """A button as ``[text]``; a menu as Slack shows it: ⋮ and its options, or the
    select's placeholder."""
    kind = element.get("type")
    if kind == "button":
        return f"[{_text_of(element.get('text'))}]"
    if kind == "overflow":
        options = element.get("options") or ()
        return "[⋮ " + " · ".join(_text_of(option.get("text")) for option in options) + "]"
    if kind == "static_select":
        return f"[{_text_of(element.get('placeholder'))} ▾]"
    return ""


def _field(field: dict[str, Any]) -> str:
    name, _, value = _text_of(field).partition("\n")
    return f"{name}: {' / '.join(value.splitlines())}" if value else name


def _text_of(element: Any) -> str:
    if not isinstance(element, dict):
        return ""
    text = str(element.get("text") or "")
    return readable(text) if element.get("type") == "mrkdwn" else text
