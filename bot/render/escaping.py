"""Text for Slack mrkdwn: escaping, and the helpers that build links, mentions and dates.

Slack decodes exactly three entities in message text (``&amp;``, ``&lt;``, ``&gt;``) and
reads ``<…>`` as a link, mention or date token, so a payload value must have ``&``, ``<``
and ``>`` escaped or a test named ``<!channel>`` would ping a channel.

Templates render text with Jinja's standard autoescaping (markupsafe): every ``{{ }}``
value is escaped, and helpers return :class:`~markupsafe.Markup` that is already safe.
markupsafe escapes for HTML, which is mrkdwn's three entities plus quotes (``&#34;``,
``&#39;``); :func:`to_mrkdwn` turns rendered text into what Slack reads by putting the
quotes back. That substitution cannot touch an escaped value: escaping turns every ``&``
of a value into ``&amp;``, so ``&#`` only ever comes from markupsafe's own quote escapes.
JSON is never written here: the layout (:mod:`bot.render.layout`) hands the texts to
``json.dumps``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Undefined
from markupsafe import Markup, escape

_MRKDWN_SPECIAL = re.compile(r"[&<>]")
_HTML_QUOTES = re.compile(r"&#3[49];")
_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")
# Control characters and whitespace have no business in a URL Slack will link.
_URL_DROP = re.compile(r"[\x00-\x20\x7f]")
_URL_ENCODE = {"<": "%3C", ">": "%3E", "|": "%7C", '"': "%22", "\\": "%5C", "`": "%60"}
_NOTIFY_OPTION = re.compile(r"^(here|channel|subteam:(S[A-Z0-9]{2,20}))$")

MAX_URL_LENGTH = 3000  # Slack's limit for a button url; a longer link is useless anyway
DEFAULT_DATE_FORMAT = "{date_short_pretty} at {time}"
EMPTY = Markup("")


def escape_mrkdwn(text: str) -> str:
    """Neutralise Slack's three control characters; Slack decodes them for display."""
    if not _MRKDWN_SPECIAL.search(text):
        return text
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mrkdwn(value: Any) -> str:
    """The text Slack should receive for a template value.

    Safe text (rendered template text, helpers' output) keeps its tokens and gets its
    quotes back; anything else is a raw value and is escaped.
    """
    if isinstance(value, Markup):
        text = str(value)
        return _HTML_QUOTES.sub(_unquote, text) if "&#3" in text else text
    if value is None or isinstance(value, Undefined):
        return ""
    return escape_mrkdwn(str(value))


def _unquote(match: re.Match[str]) -> str:
    return '"' if match.group(0) == "&#34;" else "'"


def _label(value: Any) -> Markup:
    """A value as safe text: Markup kept, anything else escaped, newlines flattened."""
    if value is None or isinstance(value, Undefined):
        return EMPTY
    return escape(value)


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


def link(url: Any, label: Any = None) -> Markup:
    """``<url|label>``, or just the escaped label when the URL is not http(s)."""
    target = safe_url(url)
    text = _label(label)
    if not target:
        return text
    inner = Markup(str(text).replace("\n", " "))
    if not inner.strip():
        return Markup("<%s>") % target
    return Markup("<%s|%s>") % (target, inner)


def mention(user_id: Any, name: Any = None) -> Markup:
    """``<@U123>`` for a well-formed Slack user id, else the escaped display name.

    The id is checked, not escaped: an id like ``U1>|<!channel`` must not become a token.
    """
    if isinstance(user_id, str) and _SLACK_USER_ID.match(user_id):
        return Markup(f"<@{user_id}>")
    return _label(name if name else user_id)


def notify_mention(option: Any) -> Markup:
    """The mention a route asks for on a trigger (``here``, ``channel``, ``subteam:S1``).

    The option comes from the route's settings, never from a payload, and is checked
    against its three shapes: anything else yields nothing.
    """
    match = _NOTIFY_OPTION.match(option) if isinstance(option, str) else None
    if match is None:
        return EMPTY
    if match.group(2):
        return Markup(f"<!subteam^{match.group(2)}>")
    return Markup(f"<!{match.group(1)}>")


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def fallback_date_text(value: Any) -> str:
    """How a date reads where Slack cannot localise it (notifications, old clients)."""
    moment = _as_datetime(value)
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def date(value: Any, format: str = DEFAULT_DATE_FORMAT, fallback: Any = None) -> Markup:
    """A Slack date token, shown in each reader's own time zone.

    ``<!date^EPOCH^{date_short_pretty} at {time}|2014-08-24 01:01 UTC>``; empty for a
    missing date so templates can write ``{{ date(started_at) }}`` without a guard.
    """
    moment = _as_datetime(value)
    if moment is None:
        return EMPTY
    fmt = re.sub(r"[<>|^\n]", "", str(format)).replace("&", "&amp;") or DEFAULT_DATE_FORMAT
    shown = fallback_date_text(moment) if fallback is None else str(fallback)
    return Markup(f"<!date^{int(moment.timestamp())}^{fmt}|{escape_mrkdwn(shown)}>")


def clip(value: Any, length: int = 200, end: str = "…") -> Any:
    """Shorten a plain value *before* escaping, so no entity is ever cut.

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


def code(value: Any) -> Markup:
    """Inline code for a value (rule expressions); backticks inside would end it early."""
    if value is None or isinstance(value, Undefined) or str(value) == "":
        return EMPTY
    text = str(value).replace("`", "ˋ").replace("\n", " ")
    return Markup("`%s`") % text
