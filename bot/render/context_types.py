"""The typed template contexts: frozen dataclasses, one per shape of message.

Stage one of two-stage rendering (payload -> typed context -> template) produces one of
these (:mod:`bot.render.context`, :mod:`bot.render.rollup`). Each field is a variable its
templates see under the same name; what each one holds, for template authors, is in
``docs/templates.md`` ("The messages and their context"), and a test keeps the two in step.

A context is also a read-only :class:`~collections.abc.Mapping` of its template variables,
so Python reads it either way (``context.title``, ``context["title"]``) and user
templates written against the dict-shaped context keep working. What the template gets is
:meth:`TemplateContext.variables`: the same values as plain dicts and lists, with no
Block Kit in them (the buttons are added by :mod:`bot.render.buttons`, at layout time).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from functools import cache
from typing import Any

# A field with this metadata is read by the layout stage, never shown to templates.
LAYOUT_ONLY = {"template": False}


class TemplateContext(Mapping[str, Any]):
    """Base of every typed context: a Mapping over the fields templates see."""

    @classmethod
    def template_names(cls) -> tuple[str, ...]:
        return _template_names(cls)

    def __getitem__(self, key: str) -> Any:
        if key in self.template_names():
            return getattr(self, key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.template_names())

    def __len__(self) -> int:
        return len(self.template_names())

    def variables(self) -> dict[str, Any]:
        """The template's variables: every value plain (dicts, lists, str, numbers,
        datetimes), as the sandbox reads fastest and as user templates expect."""
        values = self.__dict__
        return {name: plain(values[name]) for name in self.template_names()}


@cache
def _template_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if f.metadata.get("template", True))


# Values passed through as they are; checked by exact type first, since this runs for
# every value of every message.
_SCALARS = frozenset({str, int, float, bool, type(None), datetime})


def plain(value: Any) -> Any:
    """``value`` with every context inside it turned into a dict, every tuple a list."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is list or kind is tuple:
        return [plain(item) for item in value]
    if isinstance(value, TemplateContext):
        return value.variables()
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    return value


@dataclass(frozen=True, eq=False)
class ResponderContext(TemplateContext):
    """Someone acknowledging the alert (``responders``' items, ``actor``)."""

    name: str
    user_id: str
    acknowledged_at: datetime
    after_trigger: str
    after_trigger_seconds: int | None


@dataclass(frozen=True, eq=False)
class AgentContext(TemplateContext):
    """An agent that saw a test alert (``agents``' items)."""

    name: str
    location: str  # a BGP monitor's network
    prefix: str  # a BGP monitor's prefix; "" for agents
    agent_id: str | None
    metrics_at_start: str
    metrics_at_end: str
    permalink: str
    started_at: datetime | None
    ended_at: datetime | None
    active: bool | None
    duration: str


@dataclass(frozen=True, eq=False)
class AlertContext(TemplateContext):
    """One alert, for its parent, clear reply and thread notes (the ``alert_*``,
    ``agent_alert_*`` and ``retrigger_note`` templates). Every field is always set: an
    empty string, None or an empty list when it does not apply."""

    kind: str
    state: str
    state_label: str
    state_emoji: str
    state_color: str
    is_cleared: bool
    rule_changed: bool
    clear_explanation: str
    alert_ref: str
    actions: Mapping[str, str]  # the action ids offered, by name (bot.render.actions)
    rule_name: str
    rule_expression: str
    alert_type: str
    alert_type_label: str
    sources_label: str
    severity: str
    notes: list[dict[str, str]]
    started_at: datetime | None
    started_note: str
    last_started_at: datetime | None
    cleared_at: datetime | None
    cleared_note: str
    first_seen_at: datetime
    last_event_at: datetime | None
    is_stale: bool
    stale_hint: str
    duration: str
    duration_seconds: int | None
    responders: list[ResponderContext]
    responders_total: int
    responders_more: int
    first_acknowledged_at: datetime | None
    time_to_acknowledge: str
    time_to_acknowledge_seconds: int | None
    mention: str
    trigger_count: int
    retriggered: bool
    triggered_again: bool
    snoozed: bool
    snoozed_until: datetime | None
    snoozed_by: str
    # Where the snooze holds: "in Slack and in ThousandEyes", "in Slack only: …"; "".
    snoozed_where: str
    in_storm: bool
    # What the ThousandEyes API sync did to this alert, in one line; "" for webhooks only.
    api_note: str
    # What the alert is about: a test, an agent or a device.
    subject: str
    subject_label: str
    title: str
    permalink: str
    permalink_label: str
    # Test alerts ("" / None / empty for agent alerts).
    test_name: str
    test_id: str | None
    labels: list[str]
    targets: list[str]
    violation_count: int | None
    agents: list[AgentContext]
    agents_total: int
    agents_more: int
    # Agent and device alerts ("" / None for test alerts).
    agent_name: str
    agent_hostname: str
    agent_ip: str
    agent_id: str | None
    agent_interface: str
    agent_where: str
    metrics_at_start: str
    metrics_at_end: str


@dataclass(frozen=True, eq=False)
class AckNoteContext(AlertContext):
    """``ack_note``: the alert, who clicked (``actor``) and which way (``acknowledged``)."""

    actor: ResponderContext
    acknowledged: bool


@dataclass(frozen=True, eq=False)
class ReminderContext(AlertContext):
    """``reminder_note``: the alert, which reminder this is, since when nobody responds,
    and for a storm's roll-up how many of its alerts wait."""

    reminder_number: int
    storm_waiting: int
    unacknowledged_for: str


@dataclass(frozen=True, eq=False)
class EventContext(TemplateContext):
    """``webhook_test`` and ``unknown_event``: what arrived, never what it means."""

    event_type: str
    event_id: str
    title: str
    known: bool
    payload_excerpt: str
    payload_truncated: bool


@dataclass(frozen=True, eq=False)
class StormEntry(TemplateContext):
    """One alert in a storm's lists (the items of ``groups``' ``chunks``)."""

    alert_ref: str
    rule_name: str
    title: str
    permalink: str
    state: str
    state_label: str
    state_emoji: str
    responders: list[str]


@dataclass(frozen=True)
class StormChoice:
    """An open alert of a storm as the roll-up's menu offers it."""

    alert_ref: str
    title: str
    rule_name: str


@dataclass(frozen=True, eq=False)
class StormGroup(TemplateContext):
    """The alerts of one rule in a storm's list (``groups``' items), sorted by title and
    cut into ``chunks`` that each fit a section."""

    rule_name: str
    count: int
    chunks: list[list[StormEntry]]


@dataclass(frozen=True, eq=False)
class RuleSummary(TemplateContext):
    """One rule of a long storm's summary (``summary``' items): its alerts by state."""

    rule_name: str
    count: int
    triggered: int
    acknowledged: int
    cleared: int


@dataclass(frozen=True, eq=False)
class StormActor(TemplateContext):
    """Who clicked on a roll-up (an ack line's ``actor``)."""

    name: str
    user_id: str


@dataclass(frozen=True, eq=False)
class AlertSubject(TemplateContext):
    """An alert named in an ack line (``subjects``' items)."""

    rule_name: str
    title: str


@dataclass(frozen=True, eq=False)
class StormAckLine(TemplateContext):
    """One person's clicks of one kind on a roll-up (``acks``' items): ``acknowledged``
    (False: withdrew), ``all`` (*Acknowledge all*), ``count`` alerts, the first
    ``subjects`` of them and ``more``."""

    actor: StormActor
    acknowledged: bool
    all: bool
    count: int
    more: int
    subjects: list[AlertSubject]


@dataclass(frozen=True, eq=False)
class RollupContext(TemplateContext):
    """``storm_rollup``: the storm's counts and its grouped list, or a summary of a long
    one. Its ``actions`` (Acknowledge all, the menu of open alerts) are built from
    ``open_entries`` by :func:`bot.render.buttons.storm_actions`."""

    storm_ref: str
    total: int
    triggered: int
    acknowledged: int
    cleared: int
    open: int
    pages: int
    groups: list[StormGroup]
    summary: list[RuleSummary]
    summary_more: int
    mention: str
    # The first open alerts (up to the menu's MENU_OPTIONS), offered in the menu, when
    # clicks can arrive (else empty); ``open`` counts them all.
    open_entries: tuple[StormChoice, ...] = field(default=(), metadata=LAYOUT_ONLY)


@dataclass(frozen=True, eq=False)
class StormPageContext(TemplateContext):
    """``storm_page``: page ``page`` of ``pages`` of a long storm, entries ``first`` to
    ``last`` of ``total``."""

    page: int
    pages: int
    total: int
    first: int
    last: int
    groups: list[StormGroup]


@dataclass(frozen=True, eq=False)
class StormNotesContext(TemplateContext):
    """``storm_notes``: what cleared since the last note and who acknowledged from the
    roll-up."""

    cleared: int
    cleared_names: list[str]
    groups: list[StormGroup]
    cleared_more: int
    acks: list[StormAckLine]
    acks_more: int
