"""Escaping for text that lands in a JSON string which Slack then reads as mrkdwn.

Templates print values into JSON text, and Slack parses the decoded strings as mrkdwn, so
every value crosses two languages. A payload field must survive both: ``"`` or ``\\`` must
not end the JSON string, and ``<!channel>`` must not ping a channel. Both escapes happen
in :func:`escape_text`, applied to every ``{{ }}`` by the environment's ``finalize``.

:class:`SlackSafe` marks text that is already escaped for both layers (the output of the
helpers below: links, mentions, dates). It is a :class:`markupsafe.Markup` subclass with
its own ``escape``, so concatenating, joining or ``%``-formatting it with a plain string
escapes the plain string *our* way, never as HTML.

Slack only decodes ``&amp;``, ``&lt;`` and ``&gt;``; HTML-escaping quotes would show
``&#34;`` in the channel, which is why markupsafe's escape is never used for output.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timezone
from typing import Any, Iterable
from urllib.parse import urlsplit

from jinja2 import Undefined
from markupsafe import Markup

log = logging.getLogger(__name__)

# Anything that needs work in either layer; most values have none and skip both passes.
_NEEDS_ESCAPE = re.compile(r'[&<>"\\\x00-\x1f\x7f]')
_MRKDWN_SPECIAL = re.compile(r"[&<>]")
_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")
# Control characters and whitespace have no business in a URL Slack will link.
_URL_DROP = re.compile(r"[\x00-\x20\x7f]")
_URL_ENCODE = {"<": "%3C", ">": "%3E", "|": "%7C", '"': "%22", "\\": "%5C", "`": "%60"}

MAX_URL_LENGTH = 3000  # Slack's limit for a button url; a longer link is useless anyway
DEFAULT_DATE_FORMAT = "{date_short_pretty} at {time}"
_INF = float("inf")


class SlackSafe(Markup):
    """Text escaped for Slack mrkdwn *and* for the inside of a JSON string.

    Only this module and the environment create it. Anything combined with it is escaped
    with :func:`escape_text`, so the safety travels with the value.
    """

    __slots__ = ()

    @classmethod
    def escape(cls, s: Any, /) -> SlackSafe:  # type: ignore[override]
        if isinstance(s, cls):
            return s
        if hasattr(s, "__html__"):
            # Macro output and other template-built text: already JSON, pass it through.
            return cls(s.__html__())
        if s is None or isinstance(s, Undefined):
            return cls("")
        return cls(escape_text(str(s)))

    # Slicing or splitting escaped text could cut ``\\n`` or ``&amp;`` in half; the pieces
    # are returned as plain strings so they get escaped again (ugly, never unsafe).
    def __getitem__(self, key: Any, /) -> str:  # type: ignore[override]
        return str.__getitem__(self, key)

    def split(  # type: ignore[override]
        self, /, sep: str | None = None, maxsplit: Any = -1
    ) -> list[str]:
        return str.split(self, sep, maxsplit)

    def rsplit(  # type: ignore[override]
        self, /, sep: str | None = None, maxsplit: Any = -1
    ) -> list[str]:
        return str.rsplit(self, sep, maxsplit)

    def splitlines(self, /, keepends: bool = False) -> list[str]:  # type: ignore[override]
        return str.splitlines(self, keepends)

    def partition(self, sep: str, /) -> tuple[str, str, str]:  # type: ignore[override]
        return str.partition(self, sep)

    def rpartition(self, sep: str, /) -> tuple[str, str, str]:  # type: ignore[override]
        return str.rpartition(self, sep)


EMPTY = SlackSafe("")


def escape_mrkdwn(text: str) -> str:
    """Neutralise Slack's three control characters; Slack decodes them for display."""
    if not _MRKDWN_SPECIAL.search(text):
        return text
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def json_string_content(text: str) -> str:
    """The inside of a JSON string literal for ``text`` (quotes, backslashes, controls)."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


def escape_text(text: str) -> str:
    """Both layers at once: the escape every printed value gets."""
    if not _NEEDS_ESCAPE.search(text):
        return text
    return json_string_content(escape_mrkdwn(text))


def trusted_mrkdwn(text: Any) -> SlackSafe:
    """Template-authored mrkdwn (``|safe``): only the JSON layer is applied.

    A template author can write ``<!here>`` on purpose; the JSON string still cannot be
    broken out of, so the worst a misuse can do is format text, never corrupt the message.
    Never apply it to a payload value: that is exactly how ``<!channel>`` would ping.
    """
    if isinstance(text, Markup):
        return SlackSafe(text)
    if text is None or isinstance(text, Undefined):
        return EMPTY
    return SlackSafe(json_string_content(str(text)))


def to_safe(value: Any) -> SlackSafe:
    """Escape a value as every printed value is, marking it so it is not escaped again."""
    return SlackSafe.escape(value)


def unescape_safe(value: SlackSafe) -> str:
    """The mrkdwn a :class:`SlackSafe` stands for (its JSON layer removed)."""
    return json.loads(f'"{value}"')


def safe_join(values: Iterable[Any], separator: Any = "") -> SlackSafe:
    """``|join`` that escapes each plain item and keeps safe ones (links, mentions)."""
    sep = to_safe(separator)
    return SlackSafe(sep.join(to_safe(v) for v in values if v is not None))


def safe_concat(parts: Iterable[Any]) -> str:
    """What ``~`` compiles to: plain when all parts are plain, else escaped part by part.

    Jinja's own concatenation HTML-escapes plain parts when one part is markup, which
    would leave backslashes and newlines raw inside the JSON string.
    """
    items = ["" if p is None or isinstance(p, Undefined) else p for p in parts]
    if any(isinstance(p, Markup) for p in items):
        return SlackSafe("").join(to_safe(p) for p in items)
    return "".join(map(str, items))


def safe_url(value: Any) -> str:
    """An http(s) URL fit for a Slack link or button, or ``""`` when it is not one.

    ``javascript:``, ``slack://`` and the like are dropped; ``<``, ``>`` and ``|`` are
    percent-encoded so the URL cannot end a ``<url|label>`` token early.
    """
    if not isinstance(value, str):
        return ""
    url = _URL_DROP.sub("", value)
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return ""
    for raw, encoded in _URL_ENCODE.items():
        url = url.replace(raw, encoded)
    if len(url) > MAX_URL_LENGTH:
        return ""
    return url


def url_value(value: Any) -> SlackSafe:
    """A URL for a non-mrkdwn field (button ``url``): JSON-escaped, ``&`` left as is."""
    return SlackSafe(json_string_content(safe_url(value)))


def link(url: Any, label: Any = None) -> SlackSafe:
    """``<url|label>``, or just the escaped label when the URL is not http(s)."""
    target = safe_url(url)
    text = "" if label is None or isinstance(label, Undefined) else label
    if not target:
        return to_safe(text)
    target = target.replace("&", "&amp;")
    if isinstance(text, SlackSafe):
        inner = unescape_safe(text)
    else:
        inner = escape_mrkdwn(str(text)).replace("\n", " ")
    token = f"<{target}|{inner}>" if inner.strip() else f"<{target}>"
    return SlackSafe(json_string_content(token))


def mention(user_id: Any, name: Any = None) -> SlackSafe:
    """``<@U123>`` for a well-formed Slack user id, else the escaped display name.

    The id is checked, not escaped: an id like ``U1>|<!channel`` must not become a token.
    """
    if isinstance(user_id, str) and _SLACK_USER_ID.match(user_id):
        return SlackSafe(f"<@{user_id}>")
    return to_safe(name if name else user_id)


_NOTIFY_OPTION = re.compile(r"^(here|channel|subteam:(S[A-Z0-9]{2,20}))$")


def notify_mention(option: Any) -> SlackSafe:
    """The mention a route asks for on a trigger (``here``, ``channel``, ``subteam:S1``).

    The option comes from the route's settings, never from a payload, and is checked
    against its three shapes: anything else yields nothing.
    """
    match = _NOTIFY_OPTION.match(option) if isinstance(option, str) else None
    if match is None:
        return EMPTY
    if match.group(2):
        return SlackSafe(f"<!subteam^{match.group(2)}>")
    return SlackSafe(f"<!{match.group(1)}>")


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def fallback_date_text(value: Any) -> str:
    """How a date reads where Slack cannot localise it (notifications, old clients)."""
    moment = _as_datetime(value)
    if moment is None:
        return ""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def date(value: Any, format: str = DEFAULT_DATE_FORMAT, fallback: Any = None) -> SlackSafe:
    """A Slack date token, shown in each reader's own time zone.

    ``<!date^EPOCH^{date_short_pretty} at {time}|2014-08-24 01:01 UTC>``; empty for a
    missing date so templates can write ``{{ date(started_at) }}`` without a guard.
    """
    moment = _as_datetime(value)
    if moment is None:
        return EMPTY
    fmt = re.sub(r"[<>|^\n]", "", str(format)).replace("&", "&amp;") or DEFAULT_DATE_FORMAT
    shown = fallback_date_text(moment) if fallback is None else str(fallback)
    token = f"<!date^{int(moment.timestamp())}^{fmt}|{escape_mrkdwn(shown)}>"
    return SlackSafe(json_string_content(token))


def _mrkdwn_deep(value: Any) -> Any:
    """A JSON-ready copy of ``value`` whose strings are mrkdwn-escaped."""
    if isinstance(value, Markup):
        return unescape_safe(SlackSafe(value))
    if isinstance(value, str):
        return escape_mrkdwn(value)
    if value is None or isinstance(value, (bool, int)) or isinstance(value, Undefined):
        return None if isinstance(value, Undefined) else value
    if isinstance(value, float):
        return value if value == value and value not in (_INF, -_INF) else None  # no NaN in JSON
    if isinstance(value, dict):
        return {escape_mrkdwn(str(k)): _mrkdwn_deep(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mrkdwn_deep(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return escape_mrkdwn(str(value))


def tojson(value: Any) -> SlackSafe:
    """A JSON literal (number, boolean, null, or an escaped string/array/object).

    For places where the template wants a JSON value, not text inside a string:
    ``"emoji": {{ flag|tojson }}``. Strings inside are mrkdwn-escaped like everything else.
    """
    return SlackSafe(json.dumps(_mrkdwn_deep(value), ensure_ascii=False))


def clip(value: Any, length: int = 200, end: str = "…") -> Any:
    """Shorten a plain value *before* escaping, so no entity or escape is ever cut.

    Safe values are returned whole: cutting them could split a token.
    """
    if isinstance(value, Markup):
        return value
    if value is None or isinstance(value, Undefined):
        return ""
    text = str(value)
    length = max(int(length), len(end) + 1)
    if len(text) <= length:
        return text
    return text[: length - len(end)].rstrip() + end


def code(value: Any) -> SlackSafe:
    """Inline code for a value (rule expressions); backticks inside would end it early."""
    if value is None or isinstance(value, Undefined) or str(value) == "":
        return EMPTY
    text = str(value).replace("`", "ˋ").replace("\n", " ")
    return SlackSafe("`") + text + SlackSafe("`")
