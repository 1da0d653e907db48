"""The ``msg`` object templates lay a message out with: Block Kit built in Python.

A template renders text only; it says which blocks the message has by calling ``msg``::

    {% do msg.text(rule_name ~ " on " ~ test_name) %}
    {% do msg.header(state_emoji ~ " " ~ rule_name) %}
    {% call msg.section(block_id="te_summary") %}*Test:* {{ link(permalink, test_name) }}{% endcall %}
    {% do msg.fields([("Status", state_label), ("Severity", severity) if severity]) %}
    {% do msg.context(["🏷️ " ~ labels|join(" · ")]) %}
    {% do msg.actions(buttons, block_id="te_actions") %}

Every text argument is either safe text (what ``{% call %}``, ``{% set %}…{% endset %}``,
macros and the helpers ``link``/``mention``/``date`` produce) or a raw value, which is
escaped here. The result is a plain dict that ``json.dumps`` serialises, so no value can
break the message's JSON, and nothing a template prints outside ``msg`` reaches Slack.
Block Kit limits are enforced afterwards (:mod:`bot.render.blockkit`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from jinja2 import Undefined

from bot.render.escaping import safe_url, to_mrkdwn

_BUTTON_STYLES = frozenset({"primary", "danger"})


class LayoutError(ValueError):
    """A template called ``msg`` with something that is not a message part."""


class MessageLayout:
    """Collects one message's fallback text and blocks while its template renders."""

    def __init__(self) -> None:
        self._text: str | None = None
        self._blocks: list[dict[str, Any]] = []

    # --- what templates call -----------------------------------------------------------

    def text(self, value: Any = None, caller: Callable[[], Any] | None = None) -> str:
        """The notification text (Slack's fallback for the blocks)."""
        self._text = to_mrkdwn(caller() if caller else value).strip()
        return ""

    def header(self, value: Any = None, caller: Callable[[], Any] | None = None) -> str:
        text = to_mrkdwn(caller() if caller else value).strip()
        self._add({"type": "header", "text": _plain(text)})
        return ""

    def section(
        self, value: Any = None, block_id: str | None = None,
        caller: Callable[[], Any] | None = None,
    ) -> str:
        """A section of mrkdwn text, kept even when empty so the limits check names it."""
        text = to_mrkdwn(caller() if caller else value).strip()
        self._add({"type": "section", "text": {"type": "mrkdwn", "text": text}}, block_id)
        return ""

    def fields(self, pairs: Iterable[Any], block_id: str | None = None) -> str:
        """A section of ``*Label*`` / value fields; pairs that are falsy or have an empty
        value are left out (``("Severity", severity) if severity``), and so is a section
        with no field left."""
        fields = []
        for pair in _items(pairs, "msg.fields"):
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise LayoutError(f"msg.fields takes (label, value) pairs, not {pair!r:.80}")
            label, value = (to_mrkdwn(part) for part in pair)
            if value.strip():
                fields.append({"type": "mrkdwn", "text": f"*{label}*\n{value}"})
        if fields:
            self._add({"type": "section", "fields": fields}, block_id)
        return ""

    def context(self, parts: Iterable[Any], block_id: str | None = None) -> str:
        """A context block with one mrkdwn element per non-empty part."""
        elements = [{"type": "mrkdwn", "text": text}
                    for text in (to_mrkdwn(part).strip() for part in _items(parts, "msg.context"))
                    if text]
        if elements:
            self._add({"type": "context", "elements": elements}, block_id)
        return ""

    def context_for(
        self, items: Iterable[Any], block_id: str | None = None,
        caller: Callable[[Any], Any] | None = None,
    ) -> str:
        """A context block with one element per item, its text the ``{% call(item) %}``
        body: ``{% call(note) msg.context_for(notes) %}📝 {{ note.value }}{% endcall %}``."""
        if caller is None:
            raise LayoutError("msg.context_for is used as {% call(item) msg.context_for(items) %}")
        return self.context([caller(item) for item in _items(items, "msg.context_for")], block_id)

    def actions(self, buttons: Iterable[Any], block_id: str | None = None) -> str:
        """Buttons from dicts with ``text``, ``action_id`` and optional ``value``,
        ``url`` (http/https only) and ``style``; nothing when the list is empty. A dict
        with ``options`` (``text``/``value`` dicts) is a menu instead: a ``static_select``
        when it has a ``placeholder``, else an ``overflow`` (⋮) menu."""
        elements = [_select(spec) if isinstance(spec, dict) and "placeholder" in spec
                    else _button(spec) for spec in _items(buttons, "msg.actions")]
        if elements:
            self._add({"type": "actions", "elements": elements}, block_id)
        return ""

    def divider(self) -> str:
        self._add({"type": "divider"})
        return ""

    # --- what the renderer reads -------------------------------------------------------

    def message(self) -> dict[str, Any]:
        if not self._text:
            raise LayoutError("the template set no text: call msg.text(…) (the notification)")
        return {"text": self._text, "blocks": self._blocks}

    def _add(self, block: dict[str, Any], block_id: Any = None) -> None:
        if block_id:
            block["block_id"] = str(block_id)
        self._blocks.append(block)


def _items(values: Any, where: str) -> list[Any]:
    """The truthy items of a list: ``x if condition`` leaves Undefined, which is skipped."""
    if isinstance(values, (str, bytes, dict)) or not isinstance(values, Iterable):
        raise LayoutError(f"{where} takes a list, not {type(values).__name__}")
    return [value for value in values if value and not isinstance(value, Undefined)]


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _button(spec: Any) -> dict[str, Any]:
    if isinstance(spec, dict) and spec.get("options") and spec.get("action_id"):
        return _overflow(spec)
    if not isinstance(spec, dict) or not spec.get("text") or not spec.get("action_id"):
        raise LayoutError(f"a button needs 'text' and 'action_id', not {spec!r:.80}")
    button: dict[str, Any] = {
        "type": "button", "text": _plain(to_mrkdwn(spec["text"])),
        "action_id": str(spec["action_id"]),
    }
    if spec.get("value"):
        button["value"] = str(spec["value"])
    if spec.get("url"):
        button["url"] = safe_url(spec["url"])
    if spec.get("style") in _BUTTON_STYLES:
        button["style"] = spec["style"]
    return button


def _options(spec: dict[str, Any], what: str) -> list[dict[str, Any]]:
    """A menu's ``options``, each with ``text`` and ``value``."""
    options = []
    for option in _items(spec["options"], f"{what}'s options"):
        if not isinstance(option, dict) or not option.get("text") or not option.get("value"):
            raise LayoutError(f"{what} option needs 'text' and 'value', not {option!r:.80}")
        options.append({"text": _plain(to_mrkdwn(option["text"])), "value": str(option["value"])})
    return options


def _overflow(spec: dict[str, Any]) -> dict[str, Any]:
    """An overflow menu: ``action_id`` and ``options``."""
    return {"type": "overflow", "action_id": str(spec["action_id"]),
            "options": _options(spec, "an overflow")}


def _select(spec: dict[str, Any]) -> dict[str, Any]:
    """A static select: ``action_id``, ``placeholder`` and ``options``."""
    if not spec.get("action_id") or not spec.get("placeholder"):
        raise LayoutError(f"a menu needs 'placeholder' and 'action_id', not {spec!r:.80}")
    return {"type": "static_select", "action_id": str(spec["action_id"]),
            "placeholder": _plain(to_mrkdwn(spec["placeholder"])),
            "options": _options(spec, "a menu")}
