"""Adding outbox jobs inside the transaction that changes the state they deliver."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.store.models import JobRow, JobStatus


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
