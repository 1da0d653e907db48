"""What every job's Slack calls share: the idempotent post, the paced update, and reading
the alert, its event and its route.

Each post carries its job's marker and goes through the job's ``JobPosts`` (spaced from
the channel's previous post); one whose answer may have been lost is looked for before it
is made again. Each chat.update takes a slot of the workspace's update budget first
(``JobUpdates``). The job handlers build on these (bot.delivery.storm_jobs,
bot.delivery.handlers).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeGuard

from bot.clock import utcnow
from bot.config import Config
from bot.db.database import Database
from bot.db.models import AlertRow
from bot.db.retry import with_db_retries
from bot.delivery.pacer import JobPosts
from bot.delivery.update_budget import JobUpdates
from bot.outbox import circuit, queue
from bot.outbox.claimed import ClaimedJob, post_marker
from bot.outbox.enqueue import queue_parent_refresh
from bot.render import MessageRenderer, RenderedMessage
from bot.render.view import AlertView
from bot.slack.errors import (
    ChannelUnavailable,
    ClaimLost,
    HistoryLimited,
    InvalidBlocks,
    NotInChannel,
    PermanentError,
    RateLimited,
    SlackDeliveryError,
    SlackUnavailable,
)
from bot.slack.gateway import LOG_ONLY_TS_PREFIX, POST_MARKER_EVENT, Posted, SlackGateway
from bot.store.alerts import StoredAlert, alert_view, load_alert_view
from bot.store.events import load_event
from bot.store.routes import DEFAULT_ROUTE, RouteOptions, route_options
from bot.thousandeyes import Event
from bot.thousandeyes.api_client import ThousandEyesApi

log = logging.getLogger(__name__)

# Seconds before the attempt's start that a lost post is looked for: clocks differ a
# little between this machine and Slack's ts.
_LOOKUP_MARGIN = 5.0


@dataclass
class JobMessages:
    config: Config
    database: Database
    gateway: SlackGateway
    renderer: MessageRenderer
    posts: JobPosts
    # Every chat.update of the job takes a slot of its workspace's update budget.
    updates: JobUpdates
    lookup_interval: timedelta = timedelta(seconds=60)
    # The ThousandEyes API link (None: off), for the jobs that call ThousandEyes.
    thousandeyes: ThousandEyesApi | None = None
    # The job's alert as its claim's transaction read it (bot.delivery.runner); its first
    # ``_alert`` uses it, any later one reads the alert again.
    read_at_claim: StoredAlert | None = None
    # (alert id, channel id, ts, fingerprint of what it shows if known) of the parent this
    # run posted, for the runner to record.
    parent_posted: tuple[int, str, str, str | None] | None = field(default=None, init=False)
    _looked_for_earlier_post: bool = field(default=False, init=False)

    def _save_progress(self, job: ClaimedJob) -> None:
        # A lost claim means another worker runs this job now; stop before posting more.
        if not with_db_retries(lambda: queue.save_progress(self.database, job, utcnow()),
                               f"recording progress of job {job.id}"):
            raise ClaimLost("claim_lost", f"job {job.id} was taken over by another worker")

    def _queue_refresh(self, row: AlertRow) -> None:
        """Ask for the alert's parent to be re-rendered: by a refresh job, in the
        workspace's update budget (merged into one that is waiting)."""
        with_db_retries(lambda: queue_parent_refresh(
            self.database, alert_id=row.id, channel=row.channel, now=utcnow(),
            team_id=row.slack_team), f"queueing a refresh of alert {row.id}")

    def _update_message(self, channel: str, ts: str, message: RenderedMessage,
                        low_priority: bool = False) -> None:
        self.updates.before_update(low_priority)
        try:
            self.gateway.update_message(channel, ts, message.text, message.blocks)
        except InvalidBlocks as error:
            log.warning("message %s: Slack refused the blocks (%s); updating as text", ts, error)
            self.updates.before_update(low_priority)
            self.gateway.update_message(channel, ts, message.text, None)

    def _post(
        self, job: ClaimedJob, channel: str, message: RenderedMessage, *,
        thread_ts: str | None = None, reply_broadcast: bool = False,
    ) -> Posted:
        # Every job posts at most one message; its marker rides along as Slack message
        # metadata. Only when an earlier attempt's answer was lost (a timeout, a 5xx,
        # the process died mid-call) may the message exist: then look for the marker
        # before posting again. An answer that arrived (ok, an error code, a 429) settled
        # the attempt, and needs no look-up.
        # The claim recorded that this attempt may post (bot.outbox.queue._take).
        marker = post_marker(job.id)
        found = self._earlier_post(job, channel, thread_ts)
        if found is not None:
            return found
        metadata = {"event_type": POST_MARKER_EVENT, "event_payload": {"marker": marker}}

        def send(target: str, blocks: list[dict[str, Any]] | None) -> Posted:
            return self.posts.post(lambda: self.gateway.post_message(
                target, message.text, blocks, thread_ts=thread_ts,
                reply_broadcast=reply_broadcast, metadata=metadata,
            ))

        try:
            try:
                return send(channel, message.blocks)
            except NotInChannel:
                if channel.startswith(("G", "D")):
                    raise PermanentError(
                        "not_in_channel", f"invite the bot to {channel} with /invite"
                    ) from None
                log.info("job %d: joining %s, which the bot is not in", job.id, channel)
                return send(self.gateway.join_channel(channel), message.blocks)
            except InvalidBlocks as error:
                log.warning("job %d: Slack refused the blocks (%s); posting as text", job.id, error)
                return send(channel, None)
        except SlackDeliveryError as error:
            if _answer_may_be_lost(error):
                job.progress.answer_lost = True  # recorded with the outcome
            else:
                job.progress.settle()  # the answer arrived: nothing was posted
            raise

    def _earlier_post(self, job: ClaimedJob, channel: str,
                      thread_ts: str | None = None) -> Posted | None:
        """What an earlier attempt of this job posted, when its answer was lost; looked
        for once per run, and None when it need not or cannot be known."""
        if not job.uncertain or self._looked_for_earlier_post:
            return None
        self._looked_for_earlier_post = True
        found = self._find_earlier_post(job, channel, post_marker(job.id), thread_ts)
        if found is not None:
            log.info("job %d: the message was already posted (%s); not posting again",
                     job.id, found.ts)
        return found

    def _find_earlier_post(
        self, job: ClaimedJob, channel: str, marker: str, thread_ts: str | None
    ) -> Posted | None:
        """The message an interrupted attempt posted, if Slack shows it; None when it
        does not, or when we cannot tell (then the job posts: a rare duplicate is better
        than an alert held back).

        Except after a crash: a job whose process died mid-post always looks, and waits
        when Slack limits the read. Those are a handful of jobs (one per delivery thread
        that died), so waiting costs little, while posting without looking would post
        again what Slack most likely had already shown.
        """
        channel_id = channel if not channel.startswith("#") and channel else job.lane_channel_id
        if not channel_id or channel_id.startswith("#"):
            log.warning("job %d: the answer to its post was lost and the id of %s is not known"
                        " yet, so it cannot be looked for; posting", job.id, channel or "(default)")
            return None
        if not circuit.take_lookup(self.database, job.team_id, thread_ts is not None, utcnow(),
                                   self.lookup_interval) and not job.died_in_flight:
            log.warning("job %d: the answer to its post was lost, and this workspace's"
                        " history reads (one per %s) are spent; posting without looking",
                        job.id, self.lookup_interval)
            return None
        since = job.progress.in_flight_since
        if since is None:  # claimed before it was recorded: how far back is not known
            log.warning("job %d: the answer to its post was lost and when it was attempted is"
                        " not known, so it cannot be looked for; posting", job.id)
            return None
        try:
            return self.gateway.find_posted(
                channel_id, marker, thread_ts=thread_ts, oldest=since - _LOOKUP_MARGIN)
        except RateLimited as limited:
            if job.died_in_flight:
                raise HistoryLimited(limited.retry_after, "conversations history read") from None
            log.warning("job %d: Slack limited the history read; posting without looking", job.id)
            return None

    def _options(self, row: AlertRow) -> RouteOptions:
        options = route_options(self.database, row.route) if row.route != DEFAULT_ROUTE else None
        if options is None:
            return RouteOptions(broadcast_clears=self.config.slack_broadcast_clears)
        return RouteOptions(
            options.mention, options.broadcast_clears or self.config.slack_broadcast_clears
        )

    def _has_parent(self, row: AlertRow) -> bool:
        return self._is_posted(row.slack_ts)

    def _is_posted(self, ts: str | None) -> TypeGuard[str]:
        if not ts:
            return False
        # A message only ever logged has no Slack twin once real Slack is configured.
        return self.gateway.log_only or not ts.startswith(LOG_ONLY_TS_PREFIX)

    def _channel(self, job: ClaimedJob) -> str:
        channel = job.channel or self.config.slack_channel or ""
        if not channel and not self.gateway.log_only:
            raise ChannelUnavailable(
                "no_channel", "set SLACK_CHANNEL or add ?channel=C123 to the webhook URL"
            )
        return channel

    def _alert(self, job: ClaimedJob) -> tuple[AlertRow, AlertView]:
        if job.alert_id is None:
            raise PermanentError("no_alert", f"{job.kind} job {job.id} has no alert")
        stored, self.read_at_claim = self.read_at_claim, None
        if stored is not None and stored.alert_id == job.alert_id:
            return alert_view(stored, options=self.config.parse_options())
        return load_alert_view(self.database, job.alert_id, options=self.config.parse_options())

    def _event(self, job: ClaimedJob) -> Event:
        event = load_event(self.database, job.event_pk, self.config.parse_options())
        if event is None:
            raise PermanentError("no_event", f"job {job.id} has no stored event")
        return event


def _answer_may_be_lost(error: SlackDeliveryError) -> bool:
    """True when Slack may have created the message although the call failed."""
    return isinstance(error, SlackUnavailable) and error.answer_lost
