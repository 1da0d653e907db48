"""Every kind of outbox job in one table: does it post, whom does it overtake, its lane.

The queue, the runner and the handlers read what a kind does from here instead of each
keeping its own list, so a new kind (a reminder, a storm roll-up) is one entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.store.models import JobKind

# The lane of jobs that only update messages: chat.update is not limited per channel,
# so they are not paced behind the channel's posts.
UPDATES_LANE = "*updates"


@dataclass(frozen=True)
class KindSpec:
    # Calls chat.postMessage, the call Slack limits to about one a second per channel.
    posts: bool
    # Kinds of earlier jobs of the same alert that this kind does not wait for.
    overtakes: frozenset[str] = frozenset()
    # Whether later jobs of its alert wait while this one is open. A job due in the
    # future (a reminder) would say False, so it never holds its alert's clear back.
    blocks_later: bool = True


KINDS: dict[str, KindSpec] = {
    JobKind.WEBHOOK_TEST: KindSpec(posts=True),
    JobKind.UNKNOWN_EVENT: KindSpec(posts=True),
    JobKind.ALERT_TRIGGER: KindSpec(posts=True),
    JobKind.ALERT_CLEAR: KindSpec(posts=True),
    JobKind.ACK_NOTE: KindSpec(posts=True),
    # A refresh re-renders the parent from the state stored when it runs, and a thread
    # note never changes the parent: waiting for notes only held the parent behind the
    # channel's paced posts. It still waits for the jobs that create or change the
    # parent (trigger, clear) and for an earlier refresh, so two never land out of order.
    JobKind.REFRESH_PARENT: KindSpec(posts=False, overtakes=frozenset({JobKind.ACK_NOTE})),
}

POSTING_KINDS = frozenset(kind for kind, spec in KINDS.items() if spec.posts)
NON_BLOCKING_KINDS = frozenset(kind for kind, spec in KINDS.items() if not spec.blocks_later)


def lane_of(kind: str, team_id: str | None, channel: str) -> str:
    """The lane a job is paced in: its workspace and the channel it posts to.

    ``channel`` is as the job names it ('' for the route's default, ``#name`` or an id);
    the same channel named two ways is two lanes, each paced on its own.
    """
    spec = KINDS.get(kind)
    target = channel if spec is not None and spec.posts else UPDATES_LANE
    return f"{team_id or ''}:{target}"
