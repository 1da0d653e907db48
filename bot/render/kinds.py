"""The kinds of message the bot renders, named once: each is a template's file name.

``message_templates/<kind>.j2`` renders a kind, and a file of that name in
``TEMPLATES_DIR`` overrides it. A :class:`enum.StrEnum` so that a kind is its own
template name wherever a string is expected (file names, log lines, the fallback).
"""

from __future__ import annotations

import enum


class MessageKind(enum.StrEnum):
    ALERT_PARENT = "alert_parent"
    AGENT_ALERT_PARENT = "agent_alert_parent"
    ALERT_CLEAR_REPLY = "alert_clear_reply"
    AGENT_ALERT_CLEAR_REPLY = "agent_alert_clear_reply"
    RETRIGGER_NOTE = "retrigger_note"
    ACK_NOTE = "ack_note"
    REMINDER_NOTE = "reminder_note"
    WEBHOOK_TEST = "webhook_test"
    UNKNOWN_EVENT = "unknown_event"
    STORM_ROLLUP = "storm_rollup"
    STORM_PAGE = "storm_page"
    STORM_NOTES = "storm_notes"
    ANNOUNCEMENT = "announcement"
    # The slash command's answers (bot/slack/commands.py builds their contexts).
    COMMAND_STATUS = "command_status"
    COMMAND_HELP = "command_help"
    COMMAND_CONNECT = "command_connect"
    COMMAND_LIST = "command_list"
    COMMAND_DISCONNECT = "command_disconnect"
    COMMAND_SNOOZE = "command_snooze"


KINDS: tuple[str, ...] = tuple(kind.value for kind in MessageKind)
PARENT_KINDS = frozenset({MessageKind.ALERT_PARENT, MessageKind.AGENT_ALERT_PARENT})
CLEAR_REPLY_KINDS = frozenset({MessageKind.ALERT_CLEAR_REPLY, MessageKind.AGENT_ALERT_CLEAR_REPLY})
STORM_LIST_KINDS = frozenset({MessageKind.STORM_ROLLUP, MessageKind.STORM_PAGE})
COMMAND_KINDS = frozenset(kind for kind in MessageKind if kind.startswith("command_"))
