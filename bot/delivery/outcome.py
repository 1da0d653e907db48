"""What became of one run of a job, decided in one place from what it raised.

A run ends done, to be retried at a time (saying why it waits, and whether it counts as a
failed attempt), or dead with the reason. ``bot.outbox.queue.finish`` records it.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from bot.db.models import WaitingFor
from bot.delivery.update_budget import UpdateBudgetSpent
from bot.outbox.outcome import Dead, Done, Outcome, Retry
from bot.slack.errors import (
    HistoryLimited,
    PermanentError,
    RateLimited,
    RetryableError,
    SlackDeliveryError,
    SlackUnavailable,
)

log = logging.getLogger(__name__)

# The longest wait after a failure, jitter included: a job is tried at least once a minute.
MAX_BACKOFF_SECONDS = 60.0
MAX_UNEXPECTED_ATTEMPTS = 8




# One generator for the whole process (the jitter needs no seed, only spread).
_RNG = random.Random()


def backoff_seconds(failures: int, rng: random.Random = _RNG) -> float:
    """Exponential backoff with jitter, ~1-2 s, 2-4 s, 4-8 s … never more than 60 s.

    The jitter spreads retries of jobs that failed together (an outage) so they do not
    all come back at once; it only shortens, so the ceiling is real.
    """
    base = min(MAX_BACKOFF_SECONDS, 2.0 ** max(1, failures))
    return base * rng.uniform(0.5, 1.0)


def decide(
    error: BaseException | None, *, job_id: int, kind: str, attempts: int,
    created_at: datetime, now: datetime, max_age: timedelta,
    backoff: Callable[[int], float],
) -> Outcome:
    """The outcome of a run that raised ``error`` (None: it succeeded)."""
    if error is None:
        return Done()
    def fields(outcome: str) -> dict[str, object]:  # for LOG_FORMAT=json
        code = error.code if isinstance(error, SlackDeliveryError) else None
        return {"job_id": job_id, "job_kind": kind, "outcome": outcome, "error_code": code}

    if isinstance(error, UpdateBudgetSpent):
        # Our own pacing of chat.update, not a failure: what the job updated is recorded,
        # and it resumes with the rest when the workspace's next slot comes.
        log.info("job %d (%s): update budget spent; resuming in %.1fs", job_id, kind,
                 error.retry_after, extra=fields("retry"))
        return Retry(error.retry_after, str(error), counts=False)
    if isinstance(error, HistoryLimited):
        log.warning("job %d (%s): its earlier post may exist and Slack limits history reads;"
                    " looking again in %.1fs (not counted as a failed attempt)",
                    job_id, kind, error.retry_after, extra=fields("retry"))
        return Retry(error.retry_after, str(error), counts=False)
    if isinstance(error, RateLimited):
        log.warning("job %d (%s): Slack rate limit; retrying in %.1fs (not counted as a"
                    " failed attempt)", job_id, kind, error.retry_after, extra=fields("retry"))
        return Retry(error.retry_after, str(error), WaitingFor.RATE_LIMIT, counts=False)
    if isinstance(error, PermanentError):
        log.error("job %d (%s) failed permanently: %s. Fix the cause, then run"
                  " `python -m bot jobs retry %d`", job_id, kind, error, job_id,
                  extra=fields("dead"))
        return Dead(str(error))
    if isinstance(error, RetryableError):
        reason = str(error)
        waiting = WaitingFor.BACKOFF if isinstance(error, SlackUnavailable) else None
    elif isinstance(error, SQLAlchemyError):
        log.error("job %d (%s): database error %s", job_id, kind, error.__class__.__name__,
                  extra=fields("retry"))
        reason, waiting = "database error", None
    else:
        # A bug or an error no one foresaw must not kill the thread (delivery would
        # stop while /healthz stays green): the caller logged its traceback; retry a
        # few times before dead-lettering.
        reason = f"unexpected error: {error.__class__.__name__}: {error}"[:500]
        if attempts >= MAX_UNEXPECTED_ATTEMPTS:
            return Dead(reason)
        waiting = None
    age = now - created_at
    if age > max_age:
        log.error("job %d (%s): giving up after %s: %s", job_id, kind, age, reason,
                  extra=fields("dead"))
        return Dead(f"gave up after {_hours(age)} (DELIVERY_MAX_AGE): {reason}")
    delay = backoff(attempts)
    log.warning("job %d (%s): %s; attempt %d, retrying in %.1fs",
                job_id, kind, reason, attempts, delay, extra=fields("retry"))
    return Retry(delay, reason, waiting)


def _hours(age: timedelta) -> str:
    return f"{age.total_seconds() / 3600:.1f} h"
