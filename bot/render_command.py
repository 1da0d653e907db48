"""``python -m bot render PAYLOAD.json [--state …]``: preview a message before deploying.

Prints the message JSON Slack would receive and a Block Kit Builder link, using the same
templates (and ``TEMPLATES_DIR`` overrides) as the running service.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta

from bot.actions import encode_alert_ref
from bot.alert_view import AlertView, DisplayState, Responder
from bot.clock import utcnow
from bot.config import Config
from bot.render import MessageRenderer, RenderedMessage, block_kit_builder_url
from bot.thousandeyes import Event, PayloadError, Transition, parse_event
from bot.thousandeyes.custom import is_custom_webhook, parse_custom_event


def render_command(config: Config, path: str, state: str | None) -> int:
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
    message = render_event(renderer, event, state)
    for warning in message.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(json.dumps({"text": message.text, "blocks": message.blocks}, indent=2, ensure_ascii=False))
    print(f"\nBlock Kit Builder: {block_kit_builder_url(message)}", file=sys.stderr)
    return 1 if message.fallback else 0


def render_event(renderer: MessageRenderer, event: Event, state: str | None) -> RenderedMessage:
    """The parent message for an alert event (in ``state``), else the event's message."""
    if event.alert is None:
        if event.known:
            return renderer.render_webhook_test(event)
        return renderer.render_unknown_event(event)
    return renderer.render_parent(preview_view(event, state))


def preview_view(event: Event, state: str | None) -> AlertView:
    """A stored-alert view made up from one event, with a sample responder if needed."""
    assert event.alert is not None and event.alert_kind is not None
    now = utcnow()
    if state is None:
        state = "cleared" if event.transition is Transition.CLEAR else "triggered"
    display = DisplayState(state)
    started = event.alert.date_start or now
    responders: tuple[Responder, ...] = ()
    if display is not DisplayState.TRIGGERED:
        responders = (Responder("U000PREVIEW", "preview-user", started + timedelta(minutes=2)),)
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
