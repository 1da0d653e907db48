"""What went wrong with a ThousandEyes API call, in the terms a person acts on.

The SDK raises its own exceptions for answers (``ApiException`` and one subclass per
status), and lets urllib3's through for the transport (a timeout or a refused connection
arrives as ``MaxRetryError``, since :mod:`.api_client` turns retries off); an answer its
models cannot read is pydantic's ``ValidationError``. :func:`classify` turns any of them
into one :class:`ApiFailure`, whose ``problem`` decides what the caller does: wait for a
rate limit's reset, tell the user to fix the token, or try again next time.

``API_ERRORS`` is the tuple to catch around an SDK call. The failure's text never holds
the token (the SDK's exceptions carry the answer's headers and body, never the request's).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pydantic
from thousandeyes_sdk.core.exceptions import ApiException, OpenApiException
from urllib3.exceptions import (
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    TimeoutError as Urllib3Timeout,
)

API_ERRORS: tuple[type[BaseException], ...] = (OpenApiException, HTTPError,
                                               pydantic.ValidationError)
RESET_HEADER = "X-Organization-Rate-Limit-Reset"
# A 429 without a usable reset header waits this long (the limit is per minute).
DEFAULT_RATE_LIMIT_WAIT = timedelta(seconds=60)
# ThousandEyes' limits reset within a minute; a reset further out is not believed.
MAX_RATE_LIMIT_WAIT = timedelta(minutes=10)


class ApiProblem(enum.StrEnum):
    UNAUTHORIZED = "unauthorized"  # 401: the token is wrong, expired or revoked
    FORBIDDEN = "forbidden"  # 403: the token's user may not do this (or in this aid)
    RATE_LIMITED = "rate_limited"  # 429: wait until ``reset_at``
    UNREACHABLE = "unreachable"  # 5xx, timeouts, refused connections: try again later
    REJECTED = "rejected"  # 400, 404, an answer the SDK cannot read: a bug to report


@dataclass(frozen=True)
class ApiFailure:
    problem: ApiProblem
    status: int | None = None  # the HTTP status, when there was an answer
    detail: str = ""  # ThousandEyes' own words, or what the transport said; short
    reset_at: datetime | None = None  # RATE_LIMITED: when calls may resume

    @property
    def retryable(self) -> bool:
        return self.problem in (ApiProblem.RATE_LIMITED, ApiProblem.UNREACHABLE)

    def summary(self) -> str:
        """One line for a log, a thread or the front page: what happened, and the fix."""
        code = f" ({self.status})" if self.status else ""
        if self.problem is ApiProblem.UNAUTHORIZED:
            return f"unauthorized{code} — check THOUSANDEYES_API_TOKEN"
        if self.problem is ApiProblem.FORBIDDEN:
            return f"forbidden{code} — {self.detail or 'the token may not do this'}"
        if self.problem is ApiProblem.RATE_LIMITED:
            until = f" until {self.reset_at:%H:%M:%S} UTC" if self.reset_at else ""
            return f"rate limited{until}"
        if self.problem is ApiProblem.UNREACHABLE:
            return f"unreachable{code}" + (f": {self.detail}" if self.detail else "")
        return f"refused the request{code}" + (f": {self.detail}" if self.detail else "")


def classify(error: BaseException, now: datetime | None = None) -> ApiFailure:
    """The :class:`ApiFailure` an error from an SDK call (one of ``API_ERRORS``) means."""
    now = now or datetime.now(UTC)
    if isinstance(error, ApiException):
        return _from_answer(error, now)
    if isinstance(error, MaxRetryError):
        reason = error.reason
        # urllib3 makes a failed connection a kind of connect timeout: ask it first.
        if isinstance(reason, Urllib3Timeout) and not isinstance(reason, NewConnectionError):
            return ApiFailure(ApiProblem.UNREACHABLE, detail="timed out")
        return ApiFailure(ApiProblem.UNREACHABLE, detail=_transport_detail(reason))
    if isinstance(error, Urllib3Timeout):
        return ApiFailure(ApiProblem.UNREACHABLE, detail="timed out")
    if isinstance(error, HTTPError):
        return ApiFailure(ApiProblem.UNREACHABLE, detail=_transport_detail(error))
    if isinstance(error, pydantic.ValidationError):
        return ApiFailure(ApiProblem.REJECTED, detail="an answer the SDK could not read")
    return ApiFailure(ApiProblem.REJECTED, detail=type(error).__name__)


def _from_answer(error: ApiException, now: datetime) -> ApiFailure:
    status = error.status if isinstance(error.status, int) else None
    detail = _answer_detail(error)
    if status == 401:
        return ApiFailure(ApiProblem.UNAUTHORIZED, status, detail)
    if status == 403:
        return ApiFailure(ApiProblem.FORBIDDEN, status, detail)
    if status == 429:
        return ApiFailure(ApiProblem.RATE_LIMITED, status, detail,
                          reset_at=_reset_at(error.headers, now))
    if status is None or status >= 500:
        return ApiFailure(ApiProblem.UNREACHABLE, status, detail)
    return ApiFailure(ApiProblem.REJECTED, status, detail)


def _answer_detail(error: ApiException) -> str:
    """ThousandEyes' ``detail`` (problem documents) or ``error_description`` (401)."""
    data = error.data
    for name in ("detail", "error_description", "title"):
        value = getattr(data, name, None)
        if isinstance(value, str) and value.strip():
            return _short(value)
    return _short(str(error.reason or ""))


def _reset_at(headers: object, now: datetime) -> datetime:
    """The reset header (epoch seconds), kept within reason; a minute when absent."""
    value = None
    if headers is not None and hasattr(headers, "get"):
        value = headers.get(RESET_HEADER) or headers.get(RESET_HEADER.lower())
    if isinstance(value, str) and value.strip().isdigit():
        reset = datetime.fromtimestamp(int(value.strip()), UTC)
        return min(max(reset, now), now + MAX_RATE_LIMIT_WAIT)
    return now + DEFAULT_RATE_LIMIT_WAIT


def _transport_detail(reason: object) -> str:
    text = str(reason).lower()
    if "refused" in text:
        return "connection refused"
    if "name or service not known" in text or "nodename nor servname" in text or \
            "failed to resolve" in text:
        return "name not found"
    if "ssl" in text or "certificate" in text:
        return "TLS failed"
    return "connection failed"


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
