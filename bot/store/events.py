"""Reading back a stored webhook event."""

from __future__ import annotations

import json

from sqlalchemy import select

from bot.db.database import Database
from bot.db.models import EventRow
from bot.thousandeyes import Event, ParseOptions, parse_event


def load_event(db: Database, event_pk: int | None, options: ParseOptions) -> Event | None:
    """The event as received (re-parsed from its stored body), or None if there is none."""
    if event_pk is None:
        return None
    with db.session() as session:
        payload = session.scalar(select(EventRow.payload).where(EventRow.id == event_pk))
    return None if payload is None else parse_event(json.loads(payload), options)
