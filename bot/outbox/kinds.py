"""Every kind of outbox job in one table: does it post, whom does it overtake, its lane.

The queue, the claims and the metrics read what a kind is from here instead of each
keeping its own list. What a kind *does* in Slack is the callable that
``bot.delivery.handlers.HANDLERS`` maps it to (the outbox never imports delivery): a new
kind is a JobKind member, one entry here and one there, and ``tests/outbox/test_kinds.py``
checks that both cover every kind.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.db.models import JobKind

# The lane of jobs that only update messages: chat.update is not limited per channel,
# so they are not paced behind the channel's posts, but per workspace (Slack's Tier 3),
# which this lane's row paces (bot.delivery.update_budget).
UPDATES_LANE = "*updates"
# The lane of the calls to the ThousandEyes API.
THOUSANDEYES_LANE = "*thousandeyes"
# Claim order within a lane (``outbox_jobs.priority``): news, then everything else.
NEWS_PRIORITY = 0
NOTE_PRIORITY = 1
PRIORITIES = (NEWS_PRIORITY, NOTE_PRIORITY)


@dataclass(frozen=True)
class KindSpec:
    # Calls chat.postMessage, the call Slack limits to about one a second per channel.
    posts: bool
    # Kinds of earlier jobs of the same alert that this kind does not wait for.
    overtakes: frozenset[JobKind] = frozenset()
    # Whether later jobs of its alert wait while this one is open. A job due in the
    # future (a reminder) says False, so it never holds its alert's clear back.
    blocks_later: bool = True
    # News: it posts a new parent (or a new storm's list), which is claimed before the
    # thread notes and refreshes waiting in its channel. Every post spent on old news is
    # taken from the next alert; an alert's own order still holds (``overtakes``).
    news: bool = False
    # Queued by a webhook: its time from "accepted" to "posted" is what a user waits for
    # an alert (bot.metrics.counters times these).
    from_webhook: bool = False
    # A lane of its own (per workspace) for a kind that calls no Slack method at all, so it
    # neither waits for a channel's post slots nor spends the workspace's update budget.
    lane: str | None = None


# A post never waits for a refresh of its alert's parent: refreshes wait for the
# workspace's update budget, and one renders the state stored when it runs, so what the
# post changed is shown by it or by the refresh the post queues.
_REFRESH = frozenset({JobKind.REFRESH_PARENT})

KINDS: dict[JobKind, KindSpec] = {
    JobKind.WEBHOOK_TEST: KindSpec(posts=True, news=True, from_webhook=True),
    JobKind.UNKNOWN_EVENT: KindSpec(posts=True, news=True, from_webhook=True),
    # A new parent, or a storm's roll-up (its anchor's trigger), or nothing for an alert
    # that joins a roll-up: cheap to claim first either way.
    JobKind.ALERT_TRIGGER: KindSpec(posts=True, news=True, overtakes=_REFRESH,
                                         from_webhook=True),
    JobKind.ALERT_CLEAR: KindSpec(posts=True, overtakes=_REFRESH, from_webhook=True),
    JobKind.ACK_NOTE: KindSpec(posts=True, overtakes=_REFRESH),
    # Jobs of the storm's anchor alert, like every post and update of its roll-up. A page
    # is a thread message: the triggers of alerts still arriving go first (joining the
    # storm costs no post), and so does a new alert's parent.
    JobKind.STORM_PAGE: KindSpec(posts=True, overtakes=_REFRESH),
    # The roll-up's thread reply telling what cleared or was acknowledged since the last
    # one; it waits for the roll-up and its pages.
    JobKind.STORM_NOTES: KindSpec(posts=True, overtakes=_REFRESH),
    # A refresh re-renders the parent from the state stored when it runs, and a thread
    # note never changes the parent: waiting for notes only held the parent behind the
    # channel's paced posts. It still waits for the jobs that create or change the
    # parent (trigger, clear) and for an earlier refresh, so two never land out of order.
    JobKind.REFRESH_PARENT: KindSpec(posts=False, overtakes=frozenset({JobKind.ACK_NOTE,
                                                                  JobKind.STORM_NOTES})),
    # Due REMINDER_AFTER from its trigger: it waits for the trigger's parent, and never
    # holds back the clear or acknowledgement that makes it moot.
    JobKind.REMINDER: KindSpec(posts=True, blocks_later=False, overtakes=_REFRESH),
    # Of no alert: a webhook connected or disconnected, a snooze made or cancelled.
    JobKind.ANNOUNCEMENT: KindSpec(posts=True),
    # A ThousandEyes API call (a snooze's suppression window): of no alert, holding back
    # nothing; what it learns is told by the refresh and announcement it queues.
    JobKind.SNOOZE_UPSTREAM: KindSpec(posts=False, blocks_later=False, lane=THOUSANDEYES_LANE),
}


def spec_of(kind: str) -> KindSpec | None:
    """The kind's entry; None for a kind this version does not know (a job queued by a
    newer version, or a typo in the database), which is dead-lettered at once."""
    try:
        return KINDS.get(JobKind(kind))
    except ValueError:
        return None


POSTING_KINDS = frozenset(kind for kind, spec in KINDS.items() if spec.posts)
NEWS_KINDS = frozenset(kind for kind, spec in KINDS.items() if spec.news)
NON_BLOCKING_KINDS = frozenset(kind for kind, spec in KINDS.items() if not spec.blocks_later)
WEBHOOK_KINDS = frozenset(kind for kind, spec in KINDS.items() if spec.from_webhook)


def lane_of(kind: str, team_id: str | None, channel: str) -> str:
    """The lane a job is paced in: its workspace and the channel it posts to.

    ``channel`` is as the job names it ('' for the route's default, ``#name`` or an id);
    the same channel named two ways is two lanes, each paced on its own.
    """
    spec = spec_of(kind)
    if spec is not None and spec.lane is not None:
        return f"{team_id or ''}:{spec.lane}"
    target = channel if spec is not None and spec.posts else UPDATES_LANE
    return f"{team_id or ''}:{target}"


def updates_lane(team_id: str | None) -> str:
    """The lane of the workspace's message updates (its row paces chat.update)."""
    return f"{team_id or ''}:{UPDATES_LANE}"


def is_updates_lane(lane: str) -> bool:
    return lane.endswith(":" + UPDATES_LANE)


def priority_of(kind: str) -> int:
    """Where a job of ``kind`` comes in its lane's claim order (``outbox_jobs.priority``)."""
    return NEWS_PRIORITY if kind in NEWS_KINDS else NOTE_PRIORITY
