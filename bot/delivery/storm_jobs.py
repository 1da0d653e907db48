"""What the jobs of a storm's anchor alert do in Slack: its roll-up, the roll-up's thread
pages and notes, and its refreshes (bot.store.storms, bot.store.storm_notes).

Only the anchor's jobs post or update the roll-up, so its Slack calls run in order like
any alert's. A storm ends as quietly as it starts: its clears and acknowledgements are
told in one thread reply per batch, and the roll-up is refreshed once for the batch,
updating only the messages (the roll-up, each page) whose content changed.
"""

from __future__ import annotations

import logging
import time

from bot.clock import utcnow
from bot.db.database import Database
from bot.db.models import AlertRow
from bot.db.retry import with_db_retries
from bot.delivery.messages import JobMessages
from bot.outbox import queue
from bot.outbox.claimed import ClaimedJob
from bot.outbox.enqueue import newer_refresh_waiting
from bot.render import RenderedMessage
from bot.render.rollup import AckLine
from bot.render.view import AlertView, DisplayState
from bot.slack.errors import ClaimLost, PermanentError
from bot.store import storm_notes, storms
from bot.store.reminders import ReminderArgs
from bot.store.storm_notes import StormNotes

log = logging.getLogger(__name__)

# A refresh reads the storm again when its render is older than this (see _refresh_rollup).
_RENDERED_FOR = 2.0


class StormJobs(JobMessages):
    def storm_page(self, job: ClaimedJob) -> None:
        row, _ = self._alert(job)
        storm = storms.load_storm(self.database, row.storm_id) if row.storm_id else None
        if storm is None or not storm.slack_ts:
            raise PermanentError("no_storm", f"page job {job.id}: its storm has no roll-up")
        page = int(job.data.get("page", 0))
        if page < len(storm.pages) and storm.pages[page]:
            # Posted already (a page queued twice): the refresh keeps it up to date.
            storms.queue_rollup_refresh(self.database, storm.id, utcnow())
            return
        members = storms.load_members(self.database, storm.id, self.config.parse_options())
        message = self.renderer.render_storm_page(members.views, page)
        posted = self._post(job, storm.slack_channel or "", message, thread_ts=storm.slack_ts)
        # A page found after a lost answer may show an older list (see _post_rollup).
        storms.record_page(self.database, storm.id, page, posted.ts,
                           fingerprint=None if job.uncertain else message.fingerprint())
        if job.uncertain:
            storms.queue_rollup_refresh(self.database, storm.id, utcnow())

    def storm_notes(self, job: ClaimedJob) -> None:
        """One reply in the roll-up's thread for the batch of news the job gathered
        (bot.store.storm_notes), then one refresh of the roll-up for all of it."""
        row, _ = self._alert(job)
        storm = storms.load_storm(self.database, row.storm_id) if row.storm_id else None
        if storm is None or not storm.slack_ts:
            log.info("notes job %d: its storm's roll-up was never posted; it shows the state"
                     " as it is when posted", job.id)
            return
        notes = storm_notes.StormNotes.from_data(job.data)
        members = storms.load_members(self.database, storm.id, self.config.parse_options())
        acks = [AckLine(ack.user_id, ack.user_name, ack.acknowledged,
                        tuple(members.views_of(ack.alert_ids)), ack.all_open)
                for ack in notes.acks]
        message = self.renderer.render_storm_notes(members.views_of(notes.cleared), acks)
        broadcast = bool(notes.cleared) and self._options(row).broadcast_clears
        self._post(job, storm.slack_channel or "", message, thread_ts=storm.slack_ts,
                   reply_broadcast=broadcast)
        storms.queue_rollup_refresh(self.database, storm.id, utcnow())

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
                             utcnow(), default_channel=self.config.slack_channel or "",
                             fingerprint=None if job.uncertain else message.fingerprint())

    def _refresh_rollup(self, job: ClaimedJob, row: AlertRow) -> None:
        """Re-render the roll-up of the alert's storm: by the anchor's refresh (any other
        member queues one). Only the messages whose content changed are updated: the
        roll-up first, then its pages, which leave part of the workspace's update budget
        to the others (a click's refresh). Updates paced by the budget take a while, so
        the storm is read again every ``_RENDERED_FOR`` seconds: each update shows the
        state of its moment, and a later refresh has less left to change. A refresh
        queued meanwhile (a click) would wait for this one: before each page it takes
        over, starting with the roll-up."""
        storm = storms.load_storm(self.database, row.storm_id or 0)
        if storm is None or not storm.slack_ts:
            return  # the roll-up, once posted, shows the state as it is then
        if storm.anchor_alert_id != row.id:
            storms.queue_rollup_refresh(self.database, storm.id, utcnow())
            return
        members, messages = self._storm_messages(storm.id, storm.slack_ts)
        rendered_at = time.monotonic()
        for key in list(messages):
            if time.monotonic() - rendered_at > _RENDERED_FOR:
                members, messages = self._storm_messages(storm.id, storm.slack_ts)
                rendered_at = time.monotonic()
            ts, message = messages[key]
            fingerprint = message.fingerprint()
            if members.storm.shown.get(key) == fingerprint:
                continue
            low_priority = key != storms.ROLLUP_MESSAGE
            if low_priority and newer_refresh_waiting(self.database, row.id, job.id):
                log.info("refresh job %d: a newer refresh of storm %d takes over", job.id,
                         storm.id)
                return
            self._update_message(storm.slack_channel or "", ts, message, low_priority)
            record_shown(self.database, storm.id, key, fingerprint)
        storms.record_rendered(self.database, storm.id, members.storm.version,
                               default_channel=self.config.slack_channel or "")

    def _storm_messages(self, storm_id: int, rollup_ts: str) -> tuple[
            storms.StormMembers, dict[str, tuple[str, RenderedMessage]]]:
        """The storm's members now, and its posted messages rendered from them by key
        (the roll-up first, then its pages), each with its ts."""
        members = storms.load_members(self.database, storm_id, self.config.parse_options())
        messages = {storms.ROLLUP_MESSAGE: (rollup_ts, self.renderer.render_rollup(
            storm_id, members.views))}
        posted = members.storm.pages
        for page, message in enumerate(self.renderer.render_storm_pages(members.views)):
            if page < len(posted) and posted[page]:
                messages[storms.page_message(page)] = (posted[page], message)
        return members, messages

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

    def _hand_to_storm(self, job: ClaimedJob, storm_id: int,
                       notes: StormNotes) -> None:
        """Give the job's news to its storm's notes instead of posting it: in the
        transaction that records the handover, so a retried job never hands it twice."""
        if job.progress.handed_to_storm:
            return
        job.progress.handed_to_storm = True
        default_channel = self.config.slack_channel or ""
        if not with_db_retries(lambda: queue.save_progress(
                self.database, job, utcnow(), also=lambda transaction: storm_notes.add_notes_in(
                    transaction, storm_id, notes, utcnow(), default_channel)),
                f"handing job {job.id} to its storm's notes"):
            raise ClaimLost("claim_lost", f"job {job.id} was taken over by another worker")


def record_shown(db: Database, storm_id: int, key: str, fingerprint: str) -> None:
    # Recorded after each update: a job stopped by the budget resumes with the rest.
    with_db_retries(lambda: storms.record_shown(db, storm_id, key, fingerprint),
                    f"recording what storm {storm_id} shows")
