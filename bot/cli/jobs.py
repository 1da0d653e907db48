"""``python -m bot jobs list [--dead]`` and ``jobs retry ID|--all-dead``."""

from __future__ import annotations

from bot.clock import utcnow
from bot.db.database import Database
from bot.outbox import queue


def list_jobs_command(database: Database, dead_only: bool, limit: int) -> int:
    jobs = queue.list_jobs(database, dead_only=dead_only, limit=limit)
    if not jobs:
        print("no dead jobs" if dead_only else "no jobs")
        return 0
    print(f"{'id':>6}  {'status':<8} {'kind':<15} {'alert':>6} {'tries':>5}  {'channel':<14} last error")
    for job in jobs:
        print(
            f"{job.id:>6}  {job.status:<8} {job.kind:<15} {job.alert_id or '-':>6} "
            f"{job.attempts:>5}  {job.channel or '(default)':<14} {(job.last_error or '')[:100]}"
        )
    return 0


def retry_jobs_command(database: Database, job_id: int | None) -> int:
    """Queue one dead job again, or all of them (``job_id`` None)."""
    revived = queue.revive(database, utcnow(), job_id)
    if job_id is not None and revived == 0:
        print(f"job {job_id} is not dead (or does not exist); nothing to retry")
        return 1
    print(f"queued {revived} job(s) again; a running worker will deliver them")
    return 0
