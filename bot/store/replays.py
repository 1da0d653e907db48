"""Signed Slack requests already handled, shared by every process through the database.

Slack signs each request over its timestamp and body, and a signature check refuses a
timestamp more than five minutes from the clock. Inside those five minutes a captured
request would pass again: a replayed ``/thousandeyes connect`` would make a second
webhook, a replayed click would act again. So the signature of each request that passed
is recorded once, and a second sight of it is a replay.

Invariants:

- a signature is recorded by one committed insert, so two processes that see the same
  request at once cannot both take it for new (the primary key decides, and the loser's
  ``ON CONFLICT DO NOTHING`` inserts nothing);
- a row is kept at least as long as its request could still pass the signature check
  (five minutes either side of its timestamp, plus a minute for clocks of processes that
  disagree), so forgetting it never lets a replay through.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, text

from bot.db.database import Database
from bot.db.models import SlackRequestRow
from bot.db.results import affected_rows

# Slack's window (slack_sdk's SignatureVerifier refuses a timestamp further than five
# minutes from now, either way), and a minute for clock differences between processes.
SLACK_WINDOW = timedelta(minutes=5)
REMEMBERED_FOR = SLACK_WINDOW + timedelta(minutes=1)
# SQLite and PostgreSQL share this upsert's syntax.
_RECORD = text("INSERT INTO seen_slack_requests (signature, request_timestamp)"
               " VALUES (:signature, :timestamp) ON CONFLICT (signature) DO NOTHING")


def first_sight(db: Database, signature: str, timestamp: int, now: float) -> bool:
    """Record a signed request (``signature``: the hex digest after ``v0=``); False when
    it was recorded before, i.e. this is a replay. ``now`` is Unix seconds.

    Rows no signature check would pass any more are pruned in the same transaction: the
    table holds about five minutes of Slack's requests, never more.
    """
    oldest_kept = int(now - REMEMBERED_FOR.total_seconds())
    with db.session() as session:
        session.execute(delete(SlackRequestRow)
                        .where(SlackRequestRow.request_timestamp < oldest_kept))
        inserted = session.execute(_RECORD, {"signature": signature, "timestamp": timestamp})
        return bool(affected_rows(inserted))
