"""Render a message kind with its template, validate it, and never lose the alert.

Stage two of two-stage rendering: a typed context (:mod:`bot.render.context_types`)
becomes the template's variables, buttons included (:mod:`bot.render.buttons`), goes
through the sandboxed environment, the template lays the message out with ``msg``
(:mod:`bot.render.layout`), Block Kit limits are enforced, and any template failure
becomes the built-in message of :mod:`bot.render.fallback`, logged with its traceback.
Rendering has no side effects: the delivery code decides what to post and where.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from jinja2 import TemplateError

from bot.render import actions, context as ctx, rollup
from bot.render.blockkit import enforce_limits
from bot.render.buttons import template_variables
from bot.render.environment import TEMPLATE_SUFFIX, create_environment
from bot.render.fallback import fallback_message
from bot.render.kinds import MessageKind
from bot.render.layout import LayoutError, MessageLayout
from bot.render.view import AlertView, Responder
from bot.thousandeyes import AlertKind, Event

log = logging.getLogger(__name__)

_KIND_PATTERN = re.compile(r"^[a-z0-9_]{1,64}$")

# What a template (or the data it is given) can raise while rendering. Jinja's own errors
# cover syntax, missing templates and sandbox violations; the rest come from expressions
# inside templates (a filter given the wrong type, a division by zero, a deep recursion)
# and from ``msg`` calls that are not a message (LayoutError is a ValueError; named for
# the reader).
TEMPLATE_FAILURES: tuple[type[BaseException], ...] = (
    TemplateError,
    LayoutError,
    ValueError,
    TypeError,
    LookupError,
    AttributeError,
    ArithmeticError,
    RecursionError,
    OSError,
)
# Building a context from a view only fails on a bug or on data the models let through.
_CONTEXT_FAILURES = (ValueError, TypeError, KeyError, AttributeError)


@dataclass(frozen=True)
class RenderedMessage:
    """A Slack message ready for ``chat.postMessage``/``chat.update``."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    warnings: tuple[str, ...] = ()
    fallback: bool = False

    def payload(self) -> dict[str, Any]:
        """The ``text`` and ``blocks`` arguments for the Web API."""
        return {"text": self.text, "blocks": self.blocks}

    def fingerprint(self) -> str:
        """Tells two renders of a message apart: equal when Slack would show the same."""
        content = json.dumps(self.payload(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(content.encode()).hexdigest()[:32]


class MessageRenderer:
    """Renders every message the bot sends. Build one per process and share it.

    The environment, and with it every compiled template, lives as long as the renderer;
    rendering is thread-safe (Jinja templates are).
    """

    def __init__(self, templates_dir: str | Path | None = None, *, auto_reload: bool = False,
                 clicks_arrive: bool = True):
        self.templates_dir = str(templates_dir) if templates_dir else None
        # False: Slack could not deliver a click (no signing secret, no Socket Mode), so
        # no message offers Acknowledge or Unacknowledge; links still show.
        self.clicks_arrive = clicks_arrive
        self.environment = create_environment(self.templates_dir, auto_reload=auto_reload)

    # --- the general entry point ------------------------------------------------------

    def render(self, kind: str, context: Mapping[str, Any]) -> RenderedMessage:
        """Render ``message_templates/<kind>.j2`` (``kind`` a :class:`MessageKind`, or the
        name of a template of one's own); on any failure, the fallback. ``context`` is a
        typed context, or (the slash command's answers) a dict of variables."""
        variables = template_variables(context)
        try:
            if not isinstance(kind, str) or not _KIND_PATTERN.match(kind):
                raise ValueError(f"not a message kind: {kind!r:.80}")
            template = self.environment.get_template(str(kind) + TEMPLATE_SUFFIX)
            layout = MessageLayout()
            stray = template.render(variables, msg=layout)
            text, blocks, warnings = enforce_limits(layout.message())
            if stray.strip():
                warnings.append(f"text printed outside msg.* calls was ignored: {stray.strip()[:80]!r}")
        except TEMPLATE_FAILURES:
            log.exception(
                "template %r failed (templates_dir=%s); sending the built-in message",
                kind,
                self.templates_dir,
            )
            return self._fallback(kind, variables)
        if warnings:
            log.warning("message %r trimmed to fit Block Kit: %s", kind, "; ".join(warnings))
        return RenderedMessage(text, blocks, tuple(warnings), False)

    def render_fallback(self, kind: str, context: Mapping[str, Any]) -> RenderedMessage:
        """The built-in message for ``kind``, as used when its template fails."""
        return self._fallback(kind, template_variables(context))

    @staticmethod
    def _fallback(kind: str, variables: Mapping[str, Any]) -> RenderedMessage:
        text, blocks, warnings = enforce_limits(fallback_message(str(kind), variables))
        return RenderedMessage(text, blocks, tuple(warnings), True)

    # --- what the delivery code calls -------------------------------------------------

    def render_parent(self, view: AlertView) -> RenderedMessage:
        """The channel message for an alert, in its current state."""
        kind = MessageKind.AGENT_ALERT_PARENT if _is_agent(view) else MessageKind.ALERT_PARENT
        return self._render_alert(kind, view)

    def render_clear_reply(self, view: AlertView) -> RenderedMessage:
        """The threaded reply posted when the alert clears."""
        kind = (MessageKind.AGENT_ALERT_CLEAR_REPLY if _is_agent(view)
                else MessageKind.ALERT_CLEAR_REPLY)
        return self._render_alert(kind, view)

    def render_retrigger_note(self, view: AlertView) -> RenderedMessage:
        """Thread note when ThousandEyes triggers an alert that is already posted."""
        return self._render_alert(MessageKind.RETRIGGER_NOTE, view)

    def render_ack_note(
        self, view: AlertView, responder: Responder, acknowledged: bool
    ) -> RenderedMessage:
        """Thread note: "Alice acknowledged" or "Alice is no longer acknowledging"."""
        try:
            context = ctx.ack_note_context(view, responder, acknowledged)
        except _CONTEXT_FAILURES:
            log.exception("cannot build the context for alert %s", getattr(view, "alert_ref", "?"))
            minimal = _minimal_context(view)
            minimal["actor"] = {"name": getattr(responder, "user_name", "")}
            minimal["acknowledged"] = bool(acknowledged)
            return self.render_fallback(MessageKind.ACK_NOTE, minimal)
        return self.render(MessageKind.ACK_NOTE, context)

    def render_reminder_note(
        self, view: AlertView, unacknowledged_for: timedelta, number: int, *, mention: str = "",
        storm_waiting: int = 0,
    ) -> RenderedMessage:
        """Thread note: still nobody acknowledging, ``unacknowledged_for`` after the
        trigger; mentions the route's audience (``mention``), as the parent did. For a
        storm's roll-up, ``storm_waiting`` is how many of its alerts nobody acknowledges."""
        try:
            context = ctx.reminder_context(view, unacknowledged_for, number, mention,
                                           storm_waiting)
        except _CONTEXT_FAILURES:
            log.exception("cannot build the context for alert %s", getattr(view, "alert_ref", "?"))
            return self.render_fallback(MessageKind.REMINDER_NOTE, _minimal_context(view))
        return self.render(MessageKind.REMINDER_NOTE, context)

    def render_rollup(self, storm_id: int, views: list[AlertView], mention: str = "") -> RenderedMessage:
        """The roll-up parent of a storm, listing its alerts (``bot.render.rollup``);
        ``mention`` only in its first post, as for a parent."""
        return self.render(MessageKind.STORM_ROLLUP,
                           rollup.rollup_context(storm_id, views, self.clicks_arrive, mention))

    def render_rollup_summary(self, storm_id: int, tally: rollup.StormTally,
                              mention: str = "") -> RenderedMessage:
        """The roll-up parent of a long storm from its tally (``bot.render.rollup``): the
        message :meth:`render_rollup` makes of its every alert."""
        return self.render(MessageKind.STORM_ROLLUP,
                           rollup.summary_context(storm_id, tally, self.clicks_arrive, mention))

    def render_storm_page(self, views: list[AlertView], page: int, total: int) -> RenderedMessage:
        """Page ``page`` (0-based) of a long storm's full list of ``total`` alerts, for its
        thread: ``views`` are the page's own alerts."""
        return self.render(MessageKind.STORM_PAGE, rollup.page_context(views, page, total))

    def render_storm_notes(self, cleared: list[AlertView],
                           acks: list[rollup.AckLine]) -> RenderedMessage:
        """A roll-up's thread note: "12 cleared: …" and who acknowledged from the roll-up."""
        return self.render(MessageKind.STORM_NOTES, rollup.notes_context(cleared, acks))

    def render_webhook_test(self, event: Event) -> RenderedMessage:
        """A short confirmation that ThousandEyes reaches this channel."""
        return self._render_event(MessageKind.WEBHOOK_TEST, event)

    def render_unknown_event(self, event: Event) -> RenderedMessage:
        """A generic message for an event type this service does not know."""
        return self._render_event(MessageKind.UNKNOWN_EVENT, event)

    # --- helpers ------------------------------------------------------------------------

    def _render_alert(self, kind: MessageKind, view: AlertView) -> RenderedMessage:
        try:
            context = ctx.alert_context(view)
        except _CONTEXT_FAILURES:
            log.exception("cannot build the context for alert %s", getattr(view, "alert_ref", "?"))
            minimal = _minimal_context(view)
            minimal["actions"] = self._offered(minimal["actions"])
            return self.render_fallback(kind, minimal)
        if not self.clicks_arrive:
            context = replace(context, actions=self._offered(context.actions))
        return self.render(kind, context)

    def _offered(self, action_ids: Mapping[str, str]) -> dict[str, str]:
        """Only the action ids whose buttons can work here: without clicks, the link."""
        if self.clicks_arrive:
            return dict(action_ids)
        return {"view": action_ids["view"]}

    def _render_event(self, kind: MessageKind, event: Event) -> RenderedMessage:
        try:
            context = ctx.event_context(event)
        except _CONTEXT_FAILURES:
            log.exception("cannot build the context for event %s", getattr(event, "event_id", "?"))
            return self.render_fallback(kind, {
                "event_type": getattr(event, "event_type", ""),
                "event_id": getattr(event, "event_id", ""),
            })
        return self.render(kind, context)


def _is_agent(view: AlertView) -> bool:
    return str(getattr(view.kind, "value", view.kind)) == AlertKind.AGENT.value


def _minimal_context(view: Any) -> dict[str, Any]:
    """Just enough to name the alert and keep its buttons, read defensively."""
    alert = getattr(view, "alert", None)
    title = getattr(alert, "test_name", "") or getattr(alert, "agent_name", "")
    state = str(getattr(getattr(view, "state", None), "value", "triggered"))
    return {
        "alert_ref": str(getattr(view, "alert_ref", "")),
        "rule_name": getattr(alert, "rule_name", ""),
        "rule_expression": getattr(alert, "rule_expression", ""),
        "title": title,
        "permalink": getattr(alert, "permalink", ""),
        "state_label": state.capitalize(),
        "is_cleared": state == "cleared",
        "responders_total": len(getattr(view, "responders", ()) or ()),
        "actions": dict(actions.TEMPLATE_ACTION_IDS),
    }
