"""Block Kit limits, enforced after rendering: trim what is over and say what was trimmed.

Slack rejects a whole message (``invalid_blocks``) for one field over its limit. A test
with a 5,000-character name must still reach the channel, so the renderer trims here
instead of failing, and returns warnings naming each cut so it shows in the logs.

Trimming happens on the laid-out message (mrkdwn strings), and never cuts through ``&amp;``
or a ``<url|label>`` token; a cut text ends with "…". Empty texts, which Slack also
rejects, are dropped with a warning.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

log = logging.getLogger(__name__)

MAX_BLOCKS = 50
MAX_HEADER_TEXT = 150
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_CONTEXT_ELEMENTS = 10
MAX_CONTEXT_TEXT = 3000
MAX_ACTION_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_BUTTON_URL = 3000
MAX_ID_LENGTH = 255
# Menus: a static select holds up to 100 options, an overflow menu 2 to 5; an option's
# text is at most 75 characters and its value 150.
MAX_SELECT_OPTIONS = 100
MIN_OVERFLOW_OPTIONS, MAX_OVERFLOW_OPTIONS = 2, 5
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_PLACEHOLDER_TEXT = 150
MAX_FALLBACK_TEXT = 3000  # Slack allows 40,000; notifications show far less
ELLIPSIS = "…"
BUILDER_URL = "https://app.slack.com/block-kit-builder#"


@dataclass
class _Checker:
    warnings: list[str]
    action_ids: set[str]
    block_ids: set[str]

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def enforce_limits(message: dict[str, Any]) -> tuple[str, list[dict[str, Any]], list[str]]:
    """Return (text, blocks, warnings) with every Block Kit limit respected."""
    checker = _Checker([], set(), set())
    text = trim_text(message["text"], MAX_FALLBACK_TEXT, checker, "message text")
    blocks: list[dict[str, Any]] = []
    for index, block in enumerate(message.get("blocks") or []):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            checker.warn(f"block {index} dropped: not a block object")
            continue
        kept = _check_block(block, index, checker)
        if kept is not None:
            blocks.append(kept)
    blocks = _limit_block_count(blocks, checker)
    return text, blocks, checker.warnings


def trim_text(text: str, limit: int, checker: _Checker | None = None, where: str = "") -> str:
    """Cut ``text`` to ``limit`` characters ending in "…", never mid-entity or mid-token."""
    if len(text) <= limit:
        return text
    budget = limit - len(ELLIPSIS)
    closing = ""
    head = _cut(text, budget)
    if head.count("```") % 2:
        closing = "\n```"
        head = _cut(text, budget - len(closing))
    if checker is not None:
        checker.warn(f"{where} trimmed from {len(text)} to {limit} characters")
    return head + ELLIPSIS + closing


def _cut(text: str, budget: int) -> str:
    head = text[: max(0, budget)]
    amp = head.rfind("&", max(0, len(head) - 8))
    if amp != -1 and ";" not in head[amp:]:
        head = head[:amp]  # "&am" would show as garbage
    lt = head.rfind("<")
    if lt != -1 and ">" not in head[lt:]:
        head = head[:lt]  # half a link or mention would swallow the rest
    return head.rstrip()


def _text_of(obj: Any) -> str | None:
    if isinstance(obj, dict) and isinstance(text := obj.get("text"), str):
        return text
    return None


def _trim_text_object(obj: Any, limit: int, checker: _Checker, where: str) -> bool:
    """Trim a text object in place; False when it is missing or empty (Slack rejects)."""
    text = _text_of(obj)
    if text is None or not text.strip():
        return False
    obj["text"] = trim_text(text, limit, checker, where)
    return True


def _check_block(block: dict[str, Any], index: int, checker: _Checker) -> dict[str, Any] | None:
    kind = block["type"]
    where = f"block {index} ({kind})"
    block_id = block.get("block_id")
    if block_id is not None:
        if not isinstance(block_id, str) or not block_id or len(block_id) > MAX_ID_LENGTH:
            checker.warn(f"{where}: invalid block_id removed")
            del block["block_id"]
        elif block_id in checker.block_ids:
            checker.warn(f"{where}: duplicate block_id {block_id!r} removed")
            del block["block_id"]
        else:
            checker.block_ids.add(block_id)
    if kind == "header":
        if not _trim_text_object(block.get("text"), MAX_HEADER_TEXT, checker, f"{where} text"):
            checker.warn(f"{where} dropped: empty text")
            return None
    elif kind == "section":
        return _check_section(block, where, checker)
    elif kind == "context":
        return _check_context(block, where, checker)
    elif kind == "actions":
        elements = _check_elements(block.get("elements"), where, checker)[:MAX_ACTION_ELEMENTS]
        if not elements:
            checker.warn(f"{where} dropped: no elements left")
            return None
        block["elements"] = elements
    return block


def _check_section(block: dict[str, Any], where: str, checker: _Checker) -> dict[str, Any] | None:
    text_ok = _trim_text_object(block.get("text"), MAX_SECTION_TEXT, checker, f"{where} text")
    if "text" in block and not text_ok:
        del block["text"]
    fields = block.get("fields")
    if fields is not None:
        kept = [
            f for i, f in enumerate(fields if isinstance(fields, list) else [])
            if _trim_text_object(f, MAX_FIELD_TEXT, checker, f"{where} field {i}")
        ]
        if len(kept) > MAX_FIELDS:
            checker.warn(f"{where}: {len(kept) - MAX_FIELDS} fields over {MAX_FIELDS} dropped")
            kept = kept[:MAX_FIELDS]
        if kept:
            block["fields"] = kept
        else:
            del block["fields"]
    if "accessory" in block:
        accessory = _check_elements([block["accessory"]], f"{where} accessory", checker)
        if accessory:
            block["accessory"] = accessory[0]
        else:
            del block["accessory"]
    if "text" not in block and "fields" not in block:
        checker.warn(f"{where} dropped: no text and no fields")
        return None
    return block


def _check_context(block: dict[str, Any], where: str, checker: _Checker) -> dict[str, Any] | None:
    elements = block.get("elements")
    kept = []
    for i, element in enumerate(elements if isinstance(elements, list) else []):
        if isinstance(element, dict) and element.get("type") == "image" or _trim_text_object(element, MAX_CONTEXT_TEXT, checker, f"{where} element {i}"):
            kept.append(element)
    kept = _at_most(kept, MAX_CONTEXT_ELEMENTS, checker, f"{where}: {{}} elements over the limit dropped")
    if not kept:
        checker.warn(f"{where} dropped: no elements left")
        return None
    block["elements"] = kept
    return block


def _check_elements(elements: Any, where: str, checker: _Checker) -> list[dict[str, Any]]:
    kept = []
    for i, element in enumerate(elements if isinstance(elements, list) else []):
        if not isinstance(element, dict):
            checker.warn(f"{where} element {i} dropped: not an object")
            continue
        label = f"{where} element {i}"
        action_id = element.get("action_id")
        if action_id is not None:
            if not isinstance(action_id, str) or not action_id or len(action_id) > MAX_ID_LENGTH:
                checker.warn(f"{label} dropped: invalid action_id")
                continue
            if action_id in checker.action_ids:
                checker.warn(f"{label} dropped: duplicate action_id {action_id!r}")
                continue
        if element.get("type") == "button" and not _check_button(element, label, checker):
            continue
        if element.get("type") == "overflow" and not _check_overflow(element, label, checker):
            continue
        if element.get("type") == "static_select" and not _check_select(element, label, checker):
            continue
        if action_id is not None:
            checker.action_ids.add(action_id)
        kept.append(element)
    return kept


def _check_button(button: dict[str, Any], label: str, checker: _Checker) -> bool:
    if not _trim_text_object(button.get("text"), MAX_BUTTON_TEXT, checker, f"{label} text"):
        checker.warn(f"{label} dropped: button without text")
        return False
    value = button.get("value")
    if value is not None and (not isinstance(value, str) or len(value) > MAX_BUTTON_VALUE):
        # A cut value would point at the wrong alert; a button that does nothing is worse
        # than no button.
        checker.warn(f"{label} dropped: value over {MAX_BUTTON_VALUE} characters")
        return False
    if "url" in button:
        url = button["url"]
        if not isinstance(url, str) or not url or len(url) > MAX_BUTTON_URL:
            checker.warn(f"{label} dropped: url empty or over {MAX_BUTTON_URL} characters")
            return False
    return True


def _checked_options(menu: dict[str, Any], label: str, checker: _Checker) -> list[Any]:
    """The menu's options Slack accepts, their text trimmed. A cut value would point at
    the wrong alert or snooze, so an option whose value is too long is left out."""
    options = menu.get("options")
    kept = []
    for i, option in enumerate(options if isinstance(options, list) else []):
        value = option.get("value") if isinstance(option, dict) else None
        if (not isinstance(value, str) or not value or len(value) > MAX_OPTION_VALUE
                or not _trim_text_object(option.get("text"), MAX_OPTION_TEXT, checker,
                                         f"{label} option {i} text")):
            checker.warn(f"{label} option {i} dropped: no text, or a value empty or over"
                         f" {MAX_OPTION_VALUE} characters")
            continue
        kept.append(option)
    return kept


def _at_most(items: list[Any], limit: int, checker: _Checker, warning: str) -> list[Any]:
    """The first ``limit`` items; ``warning`` (with ``{}`` for how many) when cut."""
    if len(items) <= limit:
        return items
    checker.warn(warning.format(len(items) - limit))
    return items[:limit]


def _check_overflow(menu: dict[str, Any], label: str, checker: _Checker) -> bool:
    kept = _checked_options(menu, label, checker)
    if len(kept) < MIN_OVERFLOW_OPTIONS:
        checker.warn(f"{label} dropped: an overflow menu needs {MIN_OVERFLOW_OPTIONS} options")
        return False
    menu["options"] = _at_most(kept, MAX_OVERFLOW_OPTIONS, checker,
                               f"{label}: {{}} options over {MAX_OVERFLOW_OPTIONS} dropped")
    return True


def _check_select(menu: dict[str, Any], label: str, checker: _Checker) -> bool:
    _trim_text_object(menu.get("placeholder"), MAX_PLACEHOLDER_TEXT, checker, f"{label} placeholder")
    options = _at_most(_checked_options(menu, label, checker), MAX_SELECT_OPTIONS, checker,
                       f"{label}: {{}} options over {MAX_SELECT_OPTIONS} dropped")
    if not options:
        checker.warn(f"{label} dropped: a menu without options")
        return False
    menu["options"] = options
    return True


def _limit_block_count(blocks: list[dict[str, Any]], checker: _Checker) -> list[dict[str, Any]]:
    """Over 50 blocks: drop from the end, but keep the buttons and say how much is gone."""
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    protected = {id(b) for b in [b for b in blocks if b["type"] == "actions"][-2:]}
    others = [b for b in blocks if id(b) not in protected]
    room = MAX_BLOCKS - 1 - len(protected)
    kept = {id(b) for b in others[:room]} | protected
    dropped = len(blocks) - len(kept)
    checker.warn(f"{dropped} blocks over the {MAX_BLOCKS}-block limit dropped")
    notice: dict[str, Any] | None = {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": f"{ELLIPSIS} {dropped} more blocks not shown"}],
    }
    result: list[dict[str, Any]] = []
    for block in blocks:
        if id(block) in kept:
            result.append(block)
        elif notice is not None:
            result.append(notice)  # where the first dropped block was
            notice = None
    return result


def block_kit_builder_url(message: Any) -> str:
    """A Block Kit Builder link with the message's blocks pre-filled, for previews.

    Accepts a :class:`~bot.render.renderer.RenderedMessage`, a message dict, or a list
    of blocks.
    """
    blocks: Iterable[Any]
    if isinstance(message, list):
        blocks = message
    elif isinstance(message, dict):
        blocks = message.get("blocks") or []
    else:
        blocks = getattr(message, "blocks", [])
    payload = json.dumps({"blocks": list(blocks)}, ensure_ascii=False, separators=(",", ":"))
    return BUILDER_URL + quote(payload, safe="")
