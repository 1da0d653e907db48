"""Tables of the periodic tasks that every process runs and one should run at a time:
their leases and what the last run left for the others to read."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.types import Base


class MaintenanceLeaseRow(Base):
    """A periodic task every process runs but one should run per interval (RETENTION's
    pruning: bot.store.pruning): whoever moves ``due_at`` past now first runs it."""

    __tablename__ = "maintenance_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    due_at: Mapped[datetime]
    held_by: Mapped[str | None] = mapped_column(String(150))


class ThousandEyesSyncRow(Base):
    """The ThousandEyes API sync (bot.store.sync_state): who runs it (a lease, so that of
    several processes one syncs), when it runs next, and how the last run went, which
    ``/healthz`` and the front page read in any process."""

    __tablename__ = "thousandeyes_sync"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    held_by: Mapped[str | None] = mapped_column(String(200))
    held_until: Mapped[datetime | None]
    next_run_at: Mapped[datetime]
    last_run_at: Mapped[datetime | None]
    last_ok_at: Mapped[datetime | None]
    # Cleared alerts were asked for up to here: the next run asks from here on.
    cleared_through: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(String(32))  # a SyncState value
    status: Mapped[int | None] = mapped_column(Integer)  # the API's HTTP status, if any
    detail: Mapped[str] = mapped_column(String(300), default="")
    # A 429's reset: no call before then.
    blocked_until: Mapped[datetime | None]
