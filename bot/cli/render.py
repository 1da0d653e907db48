"""``python -m bot render PAYLOAD.json [--message …] [--state …] [--responder NAME]``:
preview any message before deploying.

Prints the message JSON Slack would receive and a Block Kit Builder link, using the same
templates (and ``TEMPLATES_DIR`` overrides) as the running service. Every message an
alert makes can be previewed: its parent (in any state), the clear reply, the
acknowledgement note, the re-trigger note and the reminder (REMINDER_AFTER, else 15m). Nobody is shown acknowledging unless
``--responder`` names someone: a preview must not invent what the channel would not see.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from datetime import timedelta

from bot.clock import utcnow
from bot.config import Config
from bot.render import MessageRenderer, RenderedMessage, block_kit_builder_url
from bot.render.actions import encode_alert_ref
from bot.render.rollup import PAGE_ENTRIES
from bot.render.view import AlertView, DisplayState, Responder
from bot.thousandeyes import Event, PayloadError, Transition, parse_event
from bot.thousandeyes.custom import is_custom_webhook, parse_custom_event
from bot.thousandeyes.models import TestAlert

# What a reminder preview says when REMINDER_AFTER is off.
PREVIEW_REMINDER_AFTER = timedelta(minutes=15)


class PreviewError(ValueError):
    """The options ask for a message this payload cannot make; the text says why."""


def render_command(config: Config, path: str, state: str | None, message: str = "parent",
                   responder: str | None = None) -> int:
    try:
        # Bytes: json finds UTF-8, UTF-16 or UTF-32 itself (a Windows editor's UTF-16 too).
        with open(path, "rb") as handle:
            body = json.loads(handle.read())
        options = config.parse_options()
        event = (parse_custom_event(body, options) if is_custom_webhook(body)
                 else parse_event(body, options))
    except UnicodeDecodeError:
        print(f"error: {path}: not text in UTF-8 or UTF-16; save the payload as UTF-8 JSON",
              file=sys.stderr)
        return 2
    except json.JSONDecodeError as error:
        print(f"error: {path}: not JSON ({error}); give a ThousandEyes webhook payload",
              file=sys.stderr)
        return 2
    except (OSError, PayloadError) as error:
        print(f"error: {path}: {error}", file=sys.stderr)
        return 2
    renderer = MessageRenderer(config.templates_dir)
    try:
        rendered = render_event(renderer, event, state, message, responder,
                                reminder_after=config.reminder_after or PREVIEW_REMINDER_AFTER)
    except PreviewError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for warning in rendered.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(json.dumps({"text": rendered.text, "blocks": rendered.blocks}, indent=2,
                     ensure_ascii=False))
    print(f"\nBlock Kit Builder: {block_kit_builder_url(rendered)}", file=sys.stderr)
    return 1 if rendered.fallback else 0


def render_event(renderer: MessageRenderer, event: Event, state: str | None,
                 message: str = "parent", responder: str | None = None, *,
                 reminder_after: timedelta = PREVIEW_REMINDER_AFTER) -> RenderedMessage:
    """``message`` for the event's alert (in ``state``); a test or unknown event has
    only its own message."""
    if event.alert is None:
        if message != "parent" or state or responder:
            raise PreviewError(
                f"{event.event_type or 'this event'} is not an alert: it has only its own"
                " message (drop --message, --state and --responder)")
        if event.known:
            return renderer.render_webhook_test(event)
        return renderer.render_unknown_event(event)
    if message == "clear-reply":
        if state not in (None, "cleared"):
            raise PreviewError("--message clear-reply is posted when the alert clears;"
                               " drop --state or use --state cleared")
        return renderer.render_clear_reply(preview_view(event, "cleared", responder))
    if message == "ack-note":
        if not responder:
            raise PreviewError("--message ack-note needs --responder NAME (who clicked"
                               " Acknowledge)")
        view = preview_view(event, state or _open_or_cleared(event, "acknowledged"), responder)
        return renderer.render_ack_note(view, view.responders[0], True)
    if message == "retrigger-note":
        view = preview_view(event, state or _open_or_cleared(event, "triggered"), responder)
        return renderer.render_retrigger_note(replace(view, trigger_count=2))
    if message == "reminder-note":
        if state not in (None, "triggered"):
            raise PreviewError("--message reminder-note is posted only while nobody"
                               " acknowledges an open alert; drop --state")
        view = preview_view(event, "triggered")
        return renderer.render_reminder_note(view, reminder_after, 1)
    if message in ("storm-rollup", "storm-page"):
        # The alert and others like it on numbered tests, as a storm would list them.
        view = preview_view(event, state, responder)
        views = [_numbered(view, number) for number in
                 range(_STORM_PREVIEW if message == "storm-rollup" else _STORM_PAGE_PREVIEW)]
        if message == "storm-rollup":
            return renderer.render_rollup(0, views)
        return renderer.render_storm_page(views[:PAGE_ENTRIES], 0, len(views))
    return renderer.render_parent(preview_view(event, state, responder))


_STORM_PREVIEW = 12
_STORM_PAGE_PREVIEW = 50


def _numbered(view: AlertView, number: int) -> AlertView:
    alert = view.alert
    if number == 0:
        return view
    renamed = (replace(alert, test_name=f"{alert.test_name} ({number + 1})")
               if isinstance(alert, TestAlert)
               else replace(alert, agent_name=f"{alert.agent_name} ({number + 1})"))
    return replace(view, alert=renamed, alert_ref=encode_alert_ref(number))


def _open_or_cleared(event: Event, open_state: str) -> str:
    return "cleared" if event.transition is Transition.CLEAR else open_state


def preview_view(event: Event, state: str | None, responder: str | None = None) -> AlertView:
    """A stored-alert view made up from one event. ``responder`` (a name, or a Slack
    user id such as U0123ABCD that Slack shows as a mention) acknowledged two minutes
    after the start; without one, nobody did."""
    assert event.alert is not None and event.alert_kind is not None
    now = utcnow()
    if state is None:
        state = _open_or_cleared(event, "acknowledged" if responder else "triggered")
    display = DisplayState(state)
    if display is DisplayState.ACKNOWLEDGED and not responder:
        raise PreviewError("--state acknowledged needs --responder NAME (who acknowledged)")
    started = event.alert.date_start or now
    responders: tuple[Responder, ...] = ()
    if responder:
        responders = (Responder(responder, responder, started + timedelta(minutes=2)),)
    cleared_at = None
    if display is DisplayState.CLEARED:
        cleared_at = event.alert.date_end or started + timedelta(minutes=10)
    return AlertView(
        alert_ref=encode_alert_ref(0),
        kind=event.alert_kind,
        state=display,
        alert=event.alert,
        first_seen_at=started,
        triggered_at=event.alert.date_start,
        cleared_at=cleared_at,
        trigger_count=1,
        responders=responders,
        first_acknowledged_at=responders[0].acknowledged_at if responders else None,
    )
