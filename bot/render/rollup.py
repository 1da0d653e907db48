"""The context of a storm roll-up and of its thread pages: alerts grouped by rule, then
by test or target, each with its state.

Block Kit decides the shape: a section holds 3000 characters and a message 50 blocks, so
entries are cut into sections by their length here (links count with their URL), and a
storm longer than ``PARENT_ENTRIES`` shows a summary in its parent and the full list in
thread pages of ``PAGE_ENTRIES`` each.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from bot.render import actions
from bot.render.buttons import MENU_OPTIONS
from bot.render.context import alert_context
from bot.render.context_types import (
    AlertSubject,
    RollupContext,
    RuleSummary,
    StormAckLine,
    StormActor,
    StormChoice,
    StormEntry,
    StormGroup,
    StormNotesContext,
    StormPageContext,
)
from bot.render.escaping import notify_mention
from bot.render.view import AlertView, DisplayState

# About what one Slack message shows readably, and what fits its block limits.
PARENT_ENTRIES = 40
PAGE_ENTRIES = 40
# Section text is limited to 3000 characters; leave room for escaping (& → &amp;).
_SECTION_BUDGET = 2000
# The rules the summary of a long storm lists, one line each.
_SUMMARY_RULES = 20
# A thread note lists this many cleared alerts (the roll-up and its pages list them all),
# and names this many alerts per acknowledgement, in at most this many lines.
NOTE_ENTRIES = 40
_NOTE_SUBJECTS = 5
_NOTE_ACK_LINES = 20
# The rule an alert that names none is listed under.
_NO_RULE = "ThousandEyes alert"


def page_count(total: int) -> int:
    """The thread pages a storm of ``total`` alerts needs (0: the parent lists them all)."""
    return 0 if total <= PARENT_ENTRIES else math.ceil(total / PAGE_ENTRIES)


@dataclass(frozen=True)
class RuleTally:
    """The alerts of one rule in a storm, by display state; ``rule_name`` as stored
    (empty when the alert names none)."""

    rule_name: str
    triggered: int = 0
    acknowledged: int = 0
    cleared: int = 0


@dataclass(frozen=True)
class StormTally:
    """A long storm as its roll-up shows it, without its list: each rule's alerts by
    state, rules in the order of their first alert in the list, and the first open
    alerts in list order as the menu offers them (``MENU_OPTIONS``; more are not read)."""

    rules: tuple[RuleTally, ...]
    open_choices: tuple[StormChoice, ...]


def rollup_context(storm_id: int, views: list[AlertView], clicks_arrive: bool = True,
                   mention: str = "") -> RollupContext:
    """The roll-up parent from every alert of the storm (oldest first): counts, the
    grouped list (or a summary), and what its buttons offer
    (:func:`bot.render.buttons.storm_actions`). ``mention`` (a route option) notifies
    the route's audience in the first post."""
    entries = [_entry(view) for view in views]
    choices = [_choice(e) for e in entries if e.state != DisplayState.CLEARED.value]
    groups = [] if page_count(len(entries)) else _groups(entries)
    return _rollup(storm_id, _tallies(entries), choices, groups, clicks_arrive, mention)


def summary_context(storm_id: int, tally: StormTally, clicks_arrive: bool = True,
                    mention: str = "") -> RollupContext:
    """The roll-up parent of a long storm (more alerts than ``PARENT_ENTRIES``) from its
    tally: the same message as :func:`rollup_context` of its every alert, whose summary
    shows counts and whose menu the first open alerts."""
    return _rollup(storm_id, list(tally.rules), list(tally.open_choices), [], clicks_arrive,
                   mention)


def choice_of(view: AlertView) -> StormChoice:
    """An open alert as the roll-up's menu offers it, from its view."""
    return _choice(_entry(view))


def stored_choice(alert_id: int, title: str, rule_name: str) -> StormChoice:
    """An open alert as the roll-up's menu offers it, from its stored columns (no payload
    read): ``title`` is the name of its test or agent, as ingest stores it, and must not be
    empty; the entry's title is then that name (see bot.render.context.alert_context).
    The columns keep 500 characters; the menu shows fewer (``buttons._OPTION_TEXT``)."""
    return StormChoice(actions.encode_alert_ref(alert_id), title, rule_name or _NO_RULE)


def _choice(entry: StormEntry) -> StormChoice:
    return StormChoice(entry.alert_ref, entry.title, entry.rule_name)


def _rollup(storm_id: int, tallies: list[RuleTally], open_choices: list[StormChoice],
            groups: list[StormGroup], clicks_arrive: bool, mention: str) -> RollupContext:
    rules = _named(tallies)
    triggered = sum(rule.triggered for rule in rules)
    acknowledged = sum(rule.acknowledged for rule in rules)
    cleared = sum(rule.cleared for rule in rules)
    total, still_open = triggered + acknowledged + cleared, triggered + acknowledged
    pages = page_count(total)
    return RollupContext(
        storm_ref=actions.encode_storm_ref(storm_id),
        total=total,
        triggered=triggered,
        acknowledged=acknowledged,
        cleared=cleared,
        open=still_open,
        pages=pages,
        groups=groups,
        summary=[RuleSummary(rule_name=rule.rule_name,
                             count=rule.triggered + rule.acknowledged + rule.cleared,
                             triggered=rule.triggered, acknowledged=rule.acknowledged,
                             cleared=rule.cleared)
                 for rule in rules[:_SUMMARY_RULES]] if pages else [],
        summary_more=max(0, len(rules) - _SUMMARY_RULES) if pages else 0,
        mention=notify_mention(mention) if mention and still_open else "",
        open_entries=tuple(open_choices[:MENU_OPTIONS]) if clicks_arrive else (),
    )


def page_context(views: list[AlertView], page: int, total: int) -> StormPageContext:
    """Thread page ``page`` (0-based) of a long storm of ``total`` alerts, listing
    ``views``: the page's own alerts, in the storm's list order."""
    entries = [_entry(view) for view in views]
    return StormPageContext(page=page + 1, pages=max(1, page_count(total)), total=total,
                            first=page * PAGE_ENTRIES + 1,
                            last=page * PAGE_ENTRIES + len(entries), groups=_groups(entries))


@dataclass(frozen=True)
class AckLine:
    """One click on a roll-up, as its thread note tells it."""

    user_id: str
    user_name: str
    acknowledged: bool  # False: withdrew
    alerts: tuple[AlertView, ...]
    all_open: bool = False  # "Acknowledge all"


def notes_context(cleared: list[AlertView], acks: list[AckLine]) -> StormNotesContext:
    """A roll-up's thread note: the alerts that cleared since the last one, grouped like
    the roll-up (up to ``NOTE_ENTRIES``), and who acknowledged what from the roll-up
    (one line per person and action)."""
    entries = [_entry(view) for view in cleared]
    listed = entries[:NOTE_ENTRIES]
    lines: dict[tuple[str, bool, bool], dict[str, AlertView]] = {}
    names: dict[tuple[str, bool, bool], str] = {}  # the line's first click names it
    for ack in acks:
        key = (ack.user_id, ack.acknowledged, ack.all_open)
        names.setdefault(key, ack.user_name or ack.user_id)
        alerts = lines.setdefault(key, {})
        for view in ack.alerts:
            alerts.setdefault(view.alert_ref, view)
    ack_lines = []
    for key, alerts in list(lines.items())[:_NOTE_ACK_LINES]:
        user_id, acknowledged, all_open = key
        views = list(alerts.values())
        subjects = [alert_context(view) for view in views[:_NOTE_SUBJECTS]]
        ack_lines.append(StormAckLine(
            actor=StormActor(name=names[key], user_id=user_id),
            acknowledged=acknowledged, all=all_open, count=len(views),
            more=len(views) - len(subjects),
            subjects=[AlertSubject(rule_name=s.rule_name, title=s.title) for s in subjects]))
    return StormNotesContext(
        cleared=len(entries),
        cleared_names=[entry.title for entry in entries[:3]],
        groups=_groups(listed),
        cleared_more=len(entries) - len(listed),
        acks=ack_lines,
        acks_more=max(0, len(lines) - _NOTE_ACK_LINES),
    )


def _entry(view: AlertView) -> StormEntry:
    context = alert_context(view)
    return StormEntry(
        alert_ref=view.alert_ref,
        rule_name=context.rule_name or _NO_RULE,
        title=context.title,
        permalink=context.permalink or "",
        state=context.state,
        state_label=context.state_label,
        state_emoji=context.state_emoji,
        responders=[r.name for r in context.responders],
    )


def _groups(entries: list[StormEntry]) -> list[StormGroup]:
    """By rule (in order of first appearance), then by test or target within it; each
    group's entries cut into chunks that fit a section."""
    by_rule: dict[str, list[StormEntry]] = {}
    for entry in entries:
        by_rule.setdefault(entry.rule_name, []).append(entry)
    groups = []
    for rule, members in by_rule.items():
        members = sorted(members, key=lambda e: (e.title.casefold(), e.alert_ref))
        chunks: list[list[StormEntry]] = [[]]
        used = 0
        for entry in members:
            size = _entry_size(entry)
            if chunks[-1] and used + size > _SECTION_BUDGET:
                chunks.append([])
                used = 0
            chunks[-1].append(entry)
            used += size
        groups.append(StormGroup(rule_name=rule, count=len(members), chunks=chunks))
    return groups


def _tallies(entries: list[StormEntry]) -> list[RuleTally]:
    by_rule: dict[str, Counter[str]] = {}
    for entry in entries:
        by_rule.setdefault(entry.rule_name, Counter())[entry.state] += 1
    return [RuleTally(rule, counts[DisplayState.TRIGGERED.value],
                      counts[DisplayState.ACKNOWLEDGED.value], counts[DisplayState.CLEARED.value])
            for rule, counts in by_rule.items()]


def _named(tallies: list[RuleTally]) -> list[RuleTally]:
    """Rules by the name an entry shows (an alert naming none is a "ThousandEyes alert",
    as :func:`_entry` says), in order of first appearance."""
    named: dict[str, RuleTally] = {}
    for tally in tallies:
        name = tally.rule_name or _NO_RULE
        seen = named.get(name, RuleTally(name))
        named[name] = RuleTally(name, seen.triggered + tally.triggered,
                                seen.acknowledged + tally.acknowledged,
                                seen.cleared + tally.cleared)
    return list(named.values())


def _entry_size(entry: StormEntry) -> int:
    # The line as the template writes it: emoji, link (URL and text), state, names.
    return (len(entry.permalink) + min(len(entry.title), 100) + 40
            + sum(min(len(name), 80) + 2 for name in entry.responders[:3]))
