"""Slack failures as one typed hierarchy, each marked retryable or permanent.

The outbox worker decides what to do from the type alone: wait for ``Retry-After``,
back off and retry, join the channel and retry, or dead-letter with the reason.
"""

from __future__ import annotations


class SlackDeliveryError(Exception):
    """Base of every delivery failure. ``code`` is Slack's error code or our own."""

    retryable: bool = False

    def __init__(self, code: str, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}" if detail else code)


class RetryableError(SlackDeliveryError):
    retryable = True


class RateLimited(RetryableError):
    """HTTP 429: wait ``retry_after`` seconds before the next call to this channel."""

    def __init__(self, retry_after: float, detail: str = "") -> None:
        self.retry_after = retry_after
        super().__init__("ratelimited", detail or f"retry after {retry_after:g}s")


class HistoryLimited(RetryableError):
    """Slack limited a history read (429) that must happen before a post: wait
    ``retry_after`` seconds. Unlike a 429 on a post, it does not hold the channel's posts."""

    def __init__(self, retry_after: float, detail: str = "") -> None:
        self.retry_after = retry_after
        super().__init__("history_ratelimited", detail or f"retry after {retry_after:g}s")


class SlackUnavailable(RetryableError):
    """5xx, timeouts, connection errors and Slack's own transient error codes.

    ``answer_lost``: the request may have reached Slack and done its work (a timeout, a
    reset after sending, a 5xx). False when Slack answered with a transient error code,
    or the connection was refused: then nothing happened.
    """

    def __init__(self, code: str, detail: str = "", answer_lost: bool = True) -> None:
        self.answer_lost = answer_lost
        super().__init__(code, detail)


class ClaimLost(RetryableError):
    """Another worker took the job over (this one's lease had lapsed): stop, post no more."""


class PermanentError(SlackDeliveryError):
    """Retrying the same call cannot succeed; the job is dead-lettered."""


class NotInChannel(PermanentError):
    """The bot is not a member: joining (public channels) may fix it."""


class InvalidBlocks(PermanentError):
    """Slack refused the blocks; the message can still go out as plain text."""


class ChannelUnavailable(PermanentError):
    """No channel to post to, or the channel cannot be used (archived, not found)."""


# Slack's documented transient codes; everything else from ``ok: false`` is permanent.
_TRANSIENT_CODES = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout",
     "ratelimited", "team_added_to_org", "timeout"}
)
_CHANNEL_CODES = frozenset({"channel_not_found", "is_archived", "channel_is_archived"})
_BLOCK_CODES = frozenset({"invalid_blocks", "invalid_blocks_format", "invalid_attachments"})


def error_for_code(code: str, detail: str = "") -> SlackDeliveryError:
    """Map an ``ok: false`` error code to its class."""
    if code in _TRANSIENT_CODES:
        return SlackUnavailable(code, detail, answer_lost=False)
    if code == "not_in_channel":
        return NotInChannel(code, detail)
    if code in _BLOCK_CODES:
        return InvalidBlocks(code, detail)
    if code in _CHANNEL_CODES:
        return ChannelUnavailable(code, detail)
    return PermanentError(code, detail)
