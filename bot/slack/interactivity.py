"""Bolt listeners: Acknowledge / Unacknowledge buttons, the Snooze menu and the slash
command.

Thin on purpose: each listener acknowledges Slack at once (it allows 3 seconds), decodes
the click, and hands over to plain functions in ``bot.store`` and ``bot.slack.commands``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from slack_bolt import Ack, App
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from bot.clock import utcnow
from bot.config import SlackMode
from bot.render.actions import (
    ACKNOWLEDGE,
    ACKNOWLEDGE_ALL,
    ACKNOWLEDGE_ONE,
    SNOOZE,
    UNACKNOWLEDGE,
    VIEW_IN_THOUSANDEYES,
    decode_alert_ref,
    decode_snooze_choice,
    decode_storm_ref,
)
from bot.render.escaping import date as slack_date
from bot.slack.bolt_environment import config_only
from bot.slack.command_input import CommandInput
from bot.slack.commands import command_response
from bot.slack.oauth import build_oauth_settings
from bot.slack.permissions import ManagePermissions
from bot.slack.workspaces import GatewayProvider
from bot.store.acknowledgements import (
    AckOutcome,
    Clicker,
    acknowledge_storm,
    set_acknowledgement,
)
from bot.store.routes import disable_team
from bot.store.snoozes import SnoozeOutcome, snooze_alert
from bot.web.services import AppCore

log = logging.getLogger(__name__)


def build_listeners(core: AppCore) -> tuple[App | None, SlackRequestHandler | None]:
    """Slack's listeners, and their HTTP handler, for one app (``create_app``).

    Bolt listens once the service can post (a bot token or many workspaces) and Slack
    can reach it (a signing secret, or Socket Mode); the HTTP handler exists only with a
    signing secret, so only signed requests reach the listeners over HTTP.
    """
    config = core.config
    if not config.clicks_arrive:
        # Half-configured Slack is a warning at start (bot.config.setup_warnings); this says why
        # these requests get 503.
        log.info("Slack buttons and commands are off: they need SLACK_BOT_TOKEN and"
                 " SLACK_SIGNING_SECRET (HTTP) or SLACK_BOT_TOKEN and SLACK_APP_TOKEN"
                 " (Socket Mode)")
        return None, None
    bolt = build_bolt_app(core)
    return bolt, SlackRequestHandler(bolt) if config.slack_signing_secret else None


def build_bolt_app(app_services: AppCore) -> App:
    """The Bolt app for this Flask app; built by ``create_app``, never at import."""
    config = app_services.config
    multi_workspace = config.slack_mode is SlackMode.MULTI
    with config_only():
        bolt = _bolt_app(app_services, multi_workspace)
    if multi_workspace:
        bolt.event("app_uninstalled")(_uninstalled_listener(app_services))
        bolt.event("tokens_revoked")(_uninstalled_listener(app_services))
    acknowledge = partial(_record_click, app_services, acknowledged=True)
    bolt.action(ACKNOWLEDGE)(_recording_listener(acknowledge))
    bolt.action(UNACKNOWLEDGE)(_recording_listener(
        partial(_record_click, app_services, acknowledged=False)))
    bolt.action(VIEW_IN_THOUSANDEYES)(_link_clicked)
    bolt.action(SNOOZE)(_recording_listener(partial(_record_snooze, app_services)))
    bolt.action(ACKNOWLEDGE_ALL)(_recording_listener(partial(_record_ack_all, app_services)))
    # The roll-up's menu: the picked option carries the alert, as a button value does.
    bolt.action(ACKNOWLEDGE_ONE)(_recording_listener(acknowledge))
    # Who may end a webhook or snooze is asked of Slack with the workspace's own token.
    permissions = ManagePermissions(GatewayProvider(config, app_services.installation_store))
    bolt.command(config.slack_command)(_command_listener(app_services, permissions))
    return bolt


def _bolt_app(app_services: AppCore, multi_workspace: bool) -> App:
    config = app_services.config
    return App(
        signing_secret=config.slack_signing_secret or "",
        # Without a signing secret Bolt serves Socket Mode only; the HTTP route is then
        # not mounted at all (see create_app), so nothing unsigned is ever accepted.
        request_verification_enabled=bool(config.slack_signing_secret),
        client=WebClient(
            token=None if multi_workspace else config.slack_bot_token,
            base_url=config.slack_api_url, timeout=int(max(1, config.slack_timeout)),
        ),
        oauth_settings=(
            build_oauth_settings(config, app_services.database) if multi_workspace else None
        ),
        # Verifying the token calls Slack at start; a Slack outage must not stop the
        # service from accepting webhooks.
        token_verification_enabled=False,
        logger=logging.getLogger("slack_bolt"),
    )


def _uninstalled_listener(app_services: AppCore) -> Callable[..., None]:
    def listener(ack: Ack, body: dict[str, Any], event: dict[str, Any]) -> None:
        ack()
        team_id = str(body.get("team_id") or "")
        if not team_id:
            return
        reason = f"workspace {team_id}: {event.get('type', 'app_uninstalled')} (the app was removed)"
        try:
            # Routes first: once they answer 410, nothing new is queued for the workspace.
            routes, jobs = disable_team(app_services.database, team_id, reason, utcnow())
            store = app_services.installation_store
            if store is not None:
                enterprise_id = body.get("enterprise_id")
                store.delete_installation(enterprise_id=enterprise_id, team_id=team_id)
                store.delete_bot(enterprise_id=enterprise_id, team_id=team_id)
        except SQLAlchemyError as error:
            # Slack does not resend the event; say loudly what is left to do by hand.
            log.error("%s, but recording it failed (%s): disable its routes by hand",
                      reason, error.__class__.__name__)
            return
        log.warning("%s; disabled %d route(s), stopped %d queued job(s)", reason, routes, jobs)

    return listener


def _link_clicked(ack: Ack) -> None:
    # URL buttons also send an action; answering keeps Slack from showing an error.
    ack()


def _clicker(body: dict[str, Any]) -> Clicker:
    return Clicker(
        user_id=str(body.get("user", {}).get("id", "")),
        user_name=_user_name(body.get("user", {})),
        team_id=(body.get("team") or {}).get("id") or body.get("user", {}).get("team_id"),
        channel_id=(body.get("channel") or {}).get("id"),
    )


def _recording_listener(
        record: Callable[[Clicker, dict[str, Any]], str | None]) -> Callable[..., None]:
    """A Bolt listener for a click that ``record`` applies, returning what to tell the
    user, if anything.

    Record first, answer Slack second (tens of ms, far inside the 3 s Slack allows):
    quick successive clicks are then applied in the order they were made. Only the
    ephemeral reply, which calls Slack, waits until after the answer.
    """
    def listener(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        clicker = _clicker(body)
        try:
            reply = record(clicker, action)
        finally:
            ack()
        if reply:
            _tell(client, clicker, reply)

    return listener


def _record_ack_all(app_services: AppCore, clicker: Clicker, action: dict[str, Any]) -> str | None:
    try:
        storm_id = decode_storm_ref(str(action.get("value", "")))
    except ValueError:
        return "That button does not belong to a storm of ThousandEyes alerts."
    try:
        outcome, count = acknowledge_storm(
            app_services.database, storm_id, clicker, utcnow(),
            default_channel=app_services.config.slack_channel or "")
    except SQLAlchemyError as error:
        log.error("acknowledge all of storm %d failed: %s", storm_id, error.__class__.__name__)
        return "Sorry, that click could not be recorded; please try again."
    log.info("acknowledge all of storm %d by %s: %s (%d alerts)", storm_id, clicker.user_id,
             outcome.value, count)
    if outcome is AckOutcome.RECORDED:
        app_services.notify_new_jobs()
        return None
    if outcome is AckOutcome.CLEARED:
        return "Every alert of this storm has cleared; nothing to acknowledge."
    if outcome in (AckOutcome.UNKNOWN_ALERT, AckOutcome.FOREIGN):
        return "This storm is not known in this channel."
    return "You already acknowledge every open alert of this storm."


def _record_snooze(app_services: AppCore, clicker: Clicker, action: dict[str, Any]) -> str | None:
    """Apply one choice of the Snooze menu; returns what to tell the user, if anything."""
    selected = action.get("selected_option") or {}
    try:
        alert_id, hours = decode_snooze_choice(str(selected.get("value", "")))
    except ValueError:
        return "That menu does not belong to a ThousandEyes alert."
    try:
        outcome = snooze_alert(app_services.database, alert_id, clicker, hours, utcnow(),
                               upstream=bool(app_services.config.thousandeyes_api_token))
    except SQLAlchemyError as error:
        log.error("snooze of alert %d failed: %s", alert_id, error.__class__.__name__)
        return "Sorry, the snooze could not be recorded; please try again."
    log.info("snooze alert %d for %d h by %s: %s", alert_id, hours, clicker.user_id,
             outcome.value)
    if outcome is SnoozeOutcome.RECORDED:
        app_services.notify_new_jobs()
        return None
    return "This alert is not known in this channel."


def _record_click(
    app_services: AppCore, clicker: Clicker, action: dict[str, Any], acknowledged: bool
) -> str | None:
    """Apply one click; returns what to tell the clicking user, if anything."""
    # A button carries the alert in its value, the roll-up's menu in the picked option.
    value = action.get("value", (action.get("selected_option") or {}).get("value", ""))
    try:
        alert_id = decode_alert_ref(str(value))
    except ValueError:
        return "That button does not belong to a ThousandEyes alert."
    try:
        result = set_acknowledgement(
            app_services.database, alert_id, clicker, acknowledged, utcnow(),
            default_channel=app_services.config.slack_channel or "",
        )
    except SQLAlchemyError as error:
        log.error("acknowledge of alert %d failed: %s", alert_id, error.__class__.__name__)
        return "Sorry, that click could not be recorded; please try again."
    log.info("%s alert %d by %s: %s", "acknowledge" if acknowledged else "unacknowledge",
             alert_id, clicker.user_id, result.outcome.value)
    if result.outcome is AckOutcome.RECORDED:
        app_services.notify_new_jobs()
        return None
    if result.outcome is AckOutcome.CLEARED:
        when = str(slack_date(result.cleared_at)) if result.cleared_at else "earlier"
        return f"This alert already cleared at {when}; nothing to acknowledge."
    if result.outcome in (AckOutcome.UNKNOWN_ALERT, AckOutcome.FOREIGN):
        return "This alert is not known in this channel."
    if not acknowledged:
        return "You had not acknowledged this alert."
    return None


def _command_listener(app_services: AppCore,
                      permissions: ManagePermissions) -> Callable[..., None]:
    def listener(ack: Ack, command: dict[str, Any]) -> None:
        try:
            answer = command_response(
                app_services.database, app_services.config, app_services.renderer,
                CommandInput(
                    text=str(command.get("text", "")),
                    channel_id=str(command.get("channel_id", "")),
                    team_id=command.get("team_id") or None,
                    user_id=str(command.get("user_id", "")),
                    user_name=str(command.get("user_name", ""))[:200],
                ),
                permissions,
            )
        except SQLAlchemyError as error:
            log.error("slash command failed: %s", error.__class__.__name__)
            ack(text="Sorry, the alert database is not answering; please try again.",
                response_type="ephemeral")
            return
        ack(text=answer.text, blocks=answer.blocks or None, response_type="ephemeral")
        # connect, disconnect and snooze cancel queue an announcement for the channel.
        app_services.notify_new_jobs()

    return listener


def _user_name(user: dict[str, Any]) -> str:
    for key in ("name", "username"):
        value = user.get(key)
        if isinstance(value, str) and value:
            return value[:200]
    return str(user.get("id", "someone"))


def _tell(client: WebClient, clicker: Clicker, text: str) -> None:
    """An ephemeral answer only the clicking user sees."""
    if not clicker.channel_id or not clicker.user_id:
        return
    try:
        client.chat_postEphemeral(channel=clicker.channel_id, user=clicker.user_id, text=text)
    except SlackApiError as error:
        log.warning("could not answer %s ephemerally: %s", clicker.user_id,
                    error.response.get("error"))
    except OSError as error:  # connection refused, timeout: the answer is only a courtesy
        log.warning("could not answer %s ephemerally: %s", clicker.user_id, error)
