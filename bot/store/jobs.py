"""Adding outbox jobs inside the transaction that changes the state they deliver."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.store.models import JobKind, JobRow, JobStatus


def enqueue(
    session: Session, *, kind: str, alert_id: int | None, channel: str, now: datetime,
    team_id: str | None = None, event_pk: int | None = None,
    data: dict[str, Any] | None = None,
) -> JobRow:
    """Add a job in the caller's transaction: the state change and its job commit together."""
    job = JobRow(**job_values(kind=kind, alert_id=alert_id, channel=channel, now=now,
                              team_id=team_id, event_pk=event_pk, data=data))
    session.add(job)
    return job


def job_values(
    *, kind: str, alert_id: int | None, channel: str, now: datetime,
    team_id: str | None = None, event_pk: int | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The columns of a new pending job, for the ORM and for Core inserts alike."""
    return dict(
        alert_id=alert_id, event_pk=event_pk, kind=kind, channel=channel, team_id=team_id,
        status=JobStatus.PENDING, attempts=0, next_attempt_at=now, created_at=now,
        updated_at=now, data=data or {},
    )


def enqueue_parent_refresh(
    session: Session, *, alert_id: int, channel: str, now: datetime, team_id: str | None = None,
) -> JobRow:
    """Queue a re-render of the alert's parent, unless one is already waiting to start.

    A refresh renders the state stored when it runs, so a pending one will show this
    change too; a second would only call ``chat.update`` again. One that is running
    may have read the state already, so then a new one is queued (it runs after it).
    """
    waiting = _lock_pending_refresh(session, alert_id)
    if waiting is not None:
        return waiting
    return enqueue(session, kind=JobKind.REFRESH_PARENT, alert_id=alert_id, channel=channel,
                   team_id=team_id, now=now)


def _lock_pending_refresh(session: Session, alert_id: int) -> JobRow | None:
    """The alert's pending refresh, locked until the caller's transaction ends.

    The lock is what makes merging safe: a worker cannot claim the refresh (and render
    the state without this transaction's change) before this transaction commits.
    PostgreSQL: claiming skips locked rows; a claim that got here first makes this
    query wait, re-check ``status`` and find nothing, so a new refresh is queued.
    SQLite: every transaction is a writer (``BEGIN IMMEDIATE``), so no claim runs
    meanwhile.
    """
    return session.scalar(
        select(JobRow)
        .where(JobRow.alert_id == alert_id, JobRow.kind == JobKind.REFRESH_PARENT,
               JobRow.status == JobStatus.PENDING)
        .order_by(JobRow.id.desc())
        .limit(1)
        .with_for_update()
    )
