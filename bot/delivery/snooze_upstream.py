"""The ``SNOOZE_UPSTREAM`` job: a snooze's suppression window, created or deleted in
ThousandEyes through the official SDK.

It runs in delivery, so a snooze's click and ``/thousandeyes snooze cancel`` are answered
without waiting on ThousandEyes, and its API call is made outside any transaction: the
snooze is read in one, the call made, the answer recorded in another
(bot.store.snooze_upstream). A rate limit or an unreachable API is tried again a few
times with the outbox's backoff; then, and at once for an answer that retrying cannot
change (401, 403, 400), the snooze holds in Slack only and the channel is told why.
"""

from __future__ import annotations

import logging
from datetime import datetime

from thousandeyes_sdk.alerts.models import AlertSuppressionWindowRequest

from bot.db.database import Database
from bot.db.retry import with_db_retries
from bot.slack.errors import PermanentError, RetryableError
from bot.store.snooze_upstream import (
    UpstreamAction,
    UpstreamJob,
    record_removal,
    record_window,
    snooze_to_send,
)
from bot.thousandeyes.api_client import ThousandEyesApi
from bot.thousandeyes.api_errors import API_ERRORS, ApiFailure, ApiProblem, classify

log = logging.getLogger(__name__)

# Attempts of one job before an unreachable or rate-limited API counts as an answer.
MAX_ATTEMPTS = 3
LINK_OFF = "nothing: THOUSANDEYES_API_TOKEN is no longer set"


def run_snooze_upstream(database: Database, api: ThousandEyesApi | None,
                        data: dict[str, object], attempts: int, now: datetime) -> None:
    """Do one ``SNOOZE_UPSTREAM`` job; raises ``RetryableError`` to be tried again."""
    try:
        job = UpstreamJob.from_data(dict(data))
    except (ValueError, TypeError, KeyError) as error:
        raise PermanentError("bad_job", f"snooze upstream job: {error}") from None
    if job.action is UpstreamAction.CREATE:
        _create(database, api, job, attempts, now)
    else:
        _delete(database, api, job, attempts, now)


def _create(database: Database, api: ThousandEyesApi | None, job: UpstreamJob,
            attempts: int, now: datetime) -> None:
    snooze = snooze_to_send(database, job, now)
    if snooze is None:
        log.info("snooze %d ended before ThousandEyes was asked; no window", job.snooze_id)
        return
    window_id, detail = None, LINK_OFF
    if api is not None:
        request = AlertSuppressionWindowRequest(
            name=snooze.name, isEnabled=True, startDate=snooze.start,
            duration=snooze.seconds, testIds=[snooze.test_id])
        try:
            made = api.suppression_windows.create_alert_suppression_window(
                request, aid=api.aid, _request_timeout=api.timeout)
            window_id = made.alert_suppression_window_id or None
            detail = "no window id in its answer"
        except API_ERRORS as error:
            detail = _give_up_or_retry(classify(error), attempts, f"snooze {snooze.snooze_id}")
    log.info("snooze %d: ThousandEyes window %s", snooze.snooze_id,
             window_id or f"not made ({detail})")
    keep = with_db_retries(lambda: record_window(database, job, window_id, detail, now),
                           f"recording snooze {job.snooze_id}'s window")
    if window_id is not None and not keep and api is not None:
        # Cancelled while ThousandEyes was making it: take it away again.
        _delete(database, api, UpstreamJob(UpstreamAction.DELETE, job.snooze_id,
                                           window_id=window_id), MAX_ATTEMPTS, now)


def _delete(database: Database, api: ThousandEyesApi | None, job: UpstreamJob,
            attempts: int, now: datetime) -> None:
    detail: str | None = LINK_OFF
    if api is not None:
        try:
            api.suppression_windows.delete_alert_suppression_window(
                job.window_id, aid=api.aid, _request_timeout=api.timeout)
            detail = None
        except API_ERRORS as error:
            failure = classify(error)
            # Already gone (deleted in ThousandEyes by someone): what was asked holds.
            detail = None if failure.status == 404 else _give_up_or_retry(
                failure, attempts, f"snooze {job.snooze_id}'s window {job.window_id}")
    with_db_retries(lambda: record_removal(database, job, detail, now),
                    f"recording the end of snooze {job.snooze_id}'s window")


def _give_up_or_retry(failure: ApiFailure, attempts: int, what: str) -> str:
    """ThousandEyes' answer as words, or a ``RetryableError`` while it may still change."""
    if failure.retryable and attempts < MAX_ATTEMPTS:
        raise RetryableError("thousandeyes_" + failure.problem.value,
                             f"{what}: ThousandEyes {failure.summary()}")
    level = logging.ERROR if failure.problem in (ApiProblem.UNAUTHORIZED,
                                                 ApiProblem.FORBIDDEN) else logging.WARNING
    log.log(level, "%s: ThousandEyes %s", what, failure.summary())
    return failure.summary()
