"""What each kind of outbox job does in Slack.

Every message is rendered from the state stored *now*, not from the event that queued the
job: a trigger delivered after its clear arrived is posted already cleared. Each Slack
call that creates a message is recorded before the next call, so a retried job resumes
where it stopped instead of posting twice. Every post goes through the job's ``JobPosts``,
which spaces it from the channel's previous post.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Callable


from bot.alert_view import AlertView, DisplayState
from bot.config import Config
from bot.delivery import circuit, queue
from bot.delivery.kinds import spec_of
from bot.delivery.pacer import JobPosts
from bot.delivery.queue import ClaimedJob
from bot.render import MessageRenderer, RenderedMessage
from bot.render.renderer import ANNOUNCEMENT
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
from bot.store.acknowledgements import AckNoteArgs
from bot.store.announcements import Announcement
from bot.store import storms
from bot.store.alerts import load_alert_view
from bot.store.database import Database
from bot.store.events import load_event
from bot.store.models import AlertRow
from bot.store.adoption import AdoptionReason, thread_parent
from bot.store.reminders import ReminderArgs, still_applies
from bot.store.retry import with_db_retries
from bot.store.routes import DEFAULT_ROUTE, RouteOptions, route_options
from bot.thousandeyes import Event
from bot.clock import utcnow

log = logging.getLogger(__name__)


@dataclass
class JobExecutor:
    config: Config
    database: Database
    gateway: SlackGateway
    renderer: MessageRenderer
    posts: JobPosts
    lookup_interval: timedelta = timedelta(seconds=60)
    # (alert id, channel id, ts) of the parent this run posted, for the runner to record.
    parent_posted: tuple[int, str, str] | None = field(default=None, init=False)
    _looked_for_earlier_post: bool = field(default=False, init=False)

    def run(self, job: ClaimedJob) -> None:
        """Do the job's Slack calls (the handler its kind names in bot.delivery.kinds);
        raises a ``SlackDeliveryError`` when one fails."""
        spec = spec_of(job.kind)
        if spec is None:
            raise PermanentError("unknown_kind", f"job {job.id} is of a kind this version does"
                                 f" not know ({job.kind[:40]!r})")
        handler: Callable[[ClaimedJob], None] = getattr(self, spec.handler)
        handler(job)

    # --- event messages: the handlers bot.delivery.kinds names ----------------------

    def webhook_test(self, job: ClaimedJob) -> None:
        self._post(job, self._channel(job), self.renderer.render_webhook_test(self._event(job)))

    def unknown_event(self, job: ClaimedJob) -> None:
        self._post(job, self._channel(job), self.renderer.render_unknown_event(self._event(job)))

    # --- alert messages ---------------------------------------------------------------

    def alert_trigger(self, job: ClaimedJob) -> None:
        row, view = self._alert(job)
        if row.storm_id is None and not self._has_parent(row) and self.config.storm_rollup:
            if storms.place_alert(self.database, row.id, job.lane, utcnow(),
                                  self._storm_settings()) is not None:
                row, view = self._alert(job)
        if not self._has_parent(row):
            if row.storm_id is not None:
                self._post_rollup(job, row)  # only the anchor posts; the others wait in it
            elif not self._thread_under_earlier_parent(job, row, view):
                self._post_parent(job, row, view)
            return
        if row.storm_id is not None and view.trigger_count <= 1:
            return  # listed in the roll-up since it joined (joining refreshed it)
        if self._owns_parent(row):
            self._refresh_parent(row, view)
        if view.trigger_count > 1 and job.progress.note_ts is None:
            posted = self._post(job, row.slack_channel or "", self.renderer.render_retrigger_note(view),
                                thread_ts=row.slack_ts)
            job.progress.note_ts = posted.ts
            self._save_progress(job)

    def alert_clear(self, job: ClaimedJob) -> None:
        row, view = self._alert(job)
        if not self._has_parent(row):
            if row.storm_id is not None:
                # Cleared before its roll-up was posted: the roll-up will show it cleared.
                log.info("alert %d cleared before its storm's roll-up was posted", row.id)
                return
            # A clear whose trigger was never seen: its message becomes the parent.
            self._post_parent(job, row, view)
            return
        if job.progress.reply_ts is None:
            posted = self._post(
                job, row.slack_channel or "", self.renderer.render_clear_reply(view),
                thread_ts=row.slack_ts, reply_broadcast=self._options(row).broadcast_clears,
            )
            job.progress.reply_ts = posted.ts
            self._save_progress(job)
        if self._owns_parent(row):
            self._refresh_parent(row, view)

    def refresh_parent(self, job: ClaimedJob) -> None:
        row, view = self._alert(job)
        if self._has_parent(row) and self._owns_parent(row):
            self._refresh_parent(row, view)
        # Without a parent the pending trigger job will post the current state anyway.

    def ack_note(self, job: ClaimedJob) -> None:
        row, view = self._alert(job)
        if not self._has_parent(row):
            return
        note = AckNoteArgs.from_data(job.data)
        if note.alerts:  # "Acknowledge all" on a roll-up: one note for every alert
            message = self.renderer.render_storm_ack_note(note.responder, note.alerts)
        else:
            message = self.renderer.render_ack_note(view, note.responder, note.acknowledged)
        self._post(job, row.slack_channel or "", message, thread_ts=row.slack_ts)

    def reminder(self, job: ClaimedJob) -> None:
        row, view = self._alert(job)
        args = ReminderArgs.from_data(job.data)
        if row.storm_id is not None:
            self._storm_reminder(job, row, view, args)
            return
        # Read now, not when queued: an acknowledgement or clear since then cancels it.
        if not self._has_parent(row) or not still_applies(row, view, args):
            log.info("alert %d: reminder %d is moot (acknowledged, cleared or triggered"
                     " again)", row.id, args.number)
            return
        message = self.renderer.render_reminder_note(
            view, args.unacknowledged_for, args.number, mention=self._options(row).mention)
        self._post(job, row.slack_channel or "", message, thread_ts=row.slack_ts)

    def _storm_reminder(self, job: ClaimedJob, row: AlertRow, view: AlertView,
                        args: ReminderArgs) -> None:
        """A storm gets one reminder, its anchor's, counting the alerts nobody acknowledges:
        one for each alert would be as many mentions in the roll-up's thread. The other
        members' reminders are moot, and so is the anchor's once none is left waiting."""
        storm = storms.load_storm(self.database, row.storm_id or 0)
        if storm is None or storm.anchor_alert_id != row.id or not storm.slack_ts:
            log.info("alert %d: reminder %d is moot (its storm reminds once)", row.id, args.number)
            return
        members = storms.load_members(self.database, storm.id, self.config.parse_options())
        waiting = sum(1 for member in members.views
                      if member.state != DisplayState.CLEARED and not member.responders)
        if not waiting:
            log.info("storm %d: reminder %d is moot (every alert acknowledged or cleared)",
                     storm.id, args.number)
            return
        message = self.renderer.render_reminder_note(
            view, args.unacknowledged_for, args.number, mention=self._options(row).mention,
            storm_waiting=waiting)
        self._post(job, storm.slack_channel or "", message, thread_ts=storm.slack_ts)

    def storm_page(self, job: ClaimedJob) -> None:
        row, _ = self._alert(job)
        storm = storms.load_storm(self.database, row.storm_id) if row.storm_id else None
        if storm is None or not storm.slack_ts:
            raise PermanentError("no_storm", f"page job {job.id}: its storm has no roll-up")
        page = int(job.data.get("page", 0))
        members = storms.load_members(self.database, storm.id, self.config.parse_options())
        message = self.renderer.render_storm_page(members.views, page)
        if page < len(storm.pages) and storm.pages[page]:
            self._update_message(storm.slack_channel or "", storm.pages[page], message)
            return
        posted = self._post(job, storm.slack_channel or "", message, thread_ts=storm.slack_ts)
        storms.record_page(self.database, storm.id, page, posted.ts)
        if job.uncertain:  # the page found may show an older list (see _post_rollup)
            storms.queue_rollup_refresh(self.database, storm.id, utcnow())

    def announcement(self, job: ClaimedJob) -> None:
        try:
            said = Announcement.from_data(job.data)
        except (ValueError, TypeError) as error:
            raise PermanentError("bad_job", f"announcement job {job.id}: {error}") from None
        self._post(job, self._channel(job), self.renderer.render(ANNOUNCEMENT,
                                                                 said.template_context()))

    # --- storm roll-ups (bot.store.storms) ------------------------------------------

    def _storm_settings(self) -> storms.StormSettings:
        return storms.StormSettings(self.config.storm_threshold, self.config.storm_window,
                                    self.config.storm_quiet)

    def _post_rollup(self, job: ClaimedJob, row: AlertRow) -> None:
        """Post the storm's roll-up: only by its anchor's trigger job, which runs first
        of all its jobs; the other members' trigger jobs have nothing to post."""
        storm = storms.load_storm(self.database, row.storm_id or 0)
        if storm is None or storm.anchor_alert_id != row.id or storm.slack_ts:
            return
        members = storms.load_members(self.database, storm.id, self.config.parse_options())
        # Only the first post notifies the route's audience; updates never mention.
        message = self.renderer.render_rollup(storm.id, members.views, self._options(row).mention)
        posted = self._post(job, self._channel(job), message)
        # A post an interrupted attempt made may be the one found: it shows what that
        # attempt rendered, maybe before later alerts joined, so it is refreshed (-1).
        shown = members.storm.version if not job.uncertain else -1
        storms.record_rollup(self.database, storm.id, posted.channel, posted.ts, shown,
                             utcnow(), default_channel=self.config.slack_channel or "")

    def _refresh_parent(self, row: AlertRow, view: AlertView) -> None:
        """Re-render the alert's parent: its own, or its storm's roll-up, which only the
        anchor's jobs update (the others queue a refresh of the anchor)."""
        if row.storm_id is None:
            self._update_parent(row, view)
            return
        storm = storms.load_storm(self.database, row.storm_id)
        if storm is None or not storm.slack_ts:
            return  # the roll-up, once posted, shows the state as it is then
        if storm.anchor_alert_id != row.id:
            storms.queue_rollup_refresh(self.database, storm.id, utcnow())
            return
        members = storms.load_members(self.database, storm.id, self.config.parse_options())
        self._update_message(storm.slack_channel or "", storm.slack_ts,
                             self.renderer.render_rollup(storm.id, members.views))
        for page, ts in enumerate(members.storm.pages):
            if ts:
                self._update_message(storm.slack_channel or "", ts,
                                     self.renderer.render_storm_page(members.views, page))
        storms.record_rendered(self.database, storm.id, members.storm.version,
                               default_channel=self.config.slack_channel or "")

    # --- helpers --------------------------------------------------------------------
    def _thread_under_earlier_parent(self, job: ClaimedJob, row: AlertRow,
                                     view: AlertView) -> bool:
        """An adopted alert (bot.store.adoption) replies in the earlier alert's thread and
        takes its parent over; False when it is not adopted, or that parent was never
        posted (then it posts its own). Its jobs waited for the earlier alert's, so
        the parent's ts is known by now if it will ever be."""
        found = thread_parent(self.database, row)
        if found is None:
            return False
        channel, ts = found
        if not channel or not self._is_posted(ts):
            log.info("alert %d: the alert it threads under has no parent; posting its own",
                     row.id)
            return False
        if job.progress.note_ts is None:
            # A reply, never broadcast and without the route's mention: quiet by design.
            posted = self._post(job, channel, self.renderer.render_retrigger_note(view),
                                thread_ts=ts)
            job.progress.note_ts = posted.ts
            self._save_progress(job)
        if self._owns_parent(row):
            self._update_message(channel, ts, self.renderer.render_parent(view))
        self.parent_posted = (row.id, channel, ts)
        return True

    def _owns_parent(self, row: AlertRow) -> bool:
        """False for an alert that triggered while snoozed and replied in the thread of
        the parent, which keeps showing the alert it belongs to. (One whose earlier alert
        is in a storm roll-up posted a parent of its own: see thread_parent.)"""
        if row.thread_reason != AdoptionReason.SNOOZED:
            return True
        found = thread_parent(self.database, row)
        return not (found is not None and found[1] and found[1] == row.slack_ts)

    def _post_parent(self, job: ClaimedJob, row: AlertRow, view: AlertView) -> None:
        # Only the first post notifies the route's audience; updates never mention.
        view = replace(view, mention=self._options(row).mention)
        posted = self._post(job, self._channel(job), self.renderer.render_parent(view))
        # The job ends here: the parent is recorded with its outcome, in one transaction.
        self.parent_posted = (row.id, posted.channel, posted.ts)

    def _save_progress(self, job: ClaimedJob) -> None:
        # A lost claim means another worker runs this job now; stop before posting more.
        if not with_db_retries(lambda: queue.save_progress(self.database, job, utcnow()),
                               f"recording progress of job {job.id}"):
            raise ClaimLost("claim_lost", f"job {job.id} was taken over by another worker")

    def _update_parent(self, row: AlertRow, view: AlertView) -> None:
        self._update_message(row.slack_channel or "", row.slack_ts or "",
                             self.renderer.render_parent(view))

    def _update_message(self, channel: str, ts: str, message: RenderedMessage) -> None:
        try:
            self.gateway.update_message(channel, ts, message.text, message.blocks)
        except InvalidBlocks as error:
            log.warning("message %s: Slack refused the blocks (%s); updating as text", ts, error)
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
        # The claim recorded that this attempt may post (bot.delivery.queue._take).
        marker = queue.post_marker(job.id)
        if job.uncertain and not self._looked_for_earlier_post:
            self._looked_for_earlier_post = True
            found = self._find_earlier_post(job, channel, marker, thread_ts)
            if found is not None:
                log.info("job %d: the message was already posted (%s); not posting again",
                         job.id, found.ts)
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
        try:
            return self.gateway.find_posted(
                channel_id, marker, thread_ts=thread_ts,
                oldest=since - 5 if since is not None else None)
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

    def _is_posted(self, ts: str | None) -> bool:
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
        return load_alert_view(self.database, job.alert_id, options=self.config.parse_options())

    def _event(self, job: ClaimedJob) -> Event:
        event = load_event(self.database, job.event_pk, self.config.parse_options())
        if event is None:
            raise PermanentError("no_event", f"job {job.id} has no stored event")
        return event


def _answer_may_be_lost(error: SlackDeliveryError) -> bool:
    """True when Slack may have created the message although the call failed."""
    return isinstance(error, SlackUnavailable) and error.answer_lost
