"""What the jobs of a storm's anchor alert do in Slack: its roll-up, the roll-up's thread
pages and notes, and its refreshes (bot.store.storms, bot.store.storm_notes).

Only the anchor's jobs post or update the roll-up, so its Slack calls run in order like
any alert's. A storm ends as quietly as it starts: its clears and acknowledgements are
told in one thread reply per batch, and the roll-up is refreshed once for the batch,
updating only the messages (the roll-up, each page) whose content changed.
"""

from __future__ import annotations

import logging

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
from bot.render.view import AlertView
from bot.slack.errors import ClaimLost, PermanentError
from bot.store import storm_notes, storm_reads, storms
from bot.store.reminders import ReminderArgs
from bot.store.storm_notes import StormNotes

log = logging.getLogger(__name__)

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
        read = storm_reads.load_page(self.database, storm.id, page, self.config.parse_options())
        message = self.renderer.render_storm_page(read.views, page, read.total)
        posted = self._post(job, storm.slack_channel or "", message, thread_ts=storm.slack_ts)
        # A page found after a lost answer may show an older list (see _post_rollup).
        storms.record_page(self.database, storm.id, page, posted.ts,
                           fingerprint=None if job.uncertain else message.fingerprint(),
                           source=None if job.uncertain else read.signature)
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
        named = {*notes.cleared, *(alert_id for ack in notes.acks for alert_id in ack.alert_ids)}
        members = storm_reads.load_members(self.database, storm.id, self.config.parse_options(),
                                           only=named)
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
        # Only the first post notifies the route's audience; updates never mention.
        read, message = self._render_rollup(storm.id, self._options(row).mention)
        posted = self._post(job, self._channel(job), message)
        # A post an interrupted attempt made may be the one found: it shows what that
        # attempt rendered, maybe before later alerts joined, so it is refreshed (-1).
        shown = read.version if not job.uncertain else -1
        storms.record_rollup(self.database, storm.id, posted.channel, posted.ts, shown,
                             utcnow(), default_channel=self.config.slack_channel or "",
                             fingerprint=None if job.uncertain else message.fingerprint())

    def _refresh_rollup(self, job: ClaimedJob, row: AlertRow) -> None:
        """Re-render the roll-up of the alert's storm: by the anchor's refresh (any other
        member queues one). Only the messages whose content changed are updated: the
        roll-up first, then its pages, which leave part of the workspace's update budget
        to the others (a click's refresh). A page is rendered only when its alerts
        changed since it was (bot.store.storm_reads.page_signatures), each from the
        state of its moment, as updates paced by the budget take a while. A refresh
        queued meanwhile (a click) would wait for this one: before each page it takes
        over, after the roll-up."""
        storm = storms.load_storm(self.database, row.storm_id or 0)
        if storm is None or not storm.slack_ts:
            return  # the roll-up, once posted, shows the state as it is then
        if storm.anchor_alert_id != row.id:
            storms.queue_rollup_refresh(self.database, storm.id, utcnow())
            return
        read, message = self._render_rollup(storm.id)
        self._show(read, storms.ROLLUP_MESSAGE, storm.slack_ts, message)
        signatures = storm_reads.page_signatures(self.database, storm.id)
        for page, ts in enumerate(read.pages):
            if not ts or page not in signatures:
                continue  # not posted yet: its job posts the state of its moment
            if read.shown.get(storms.page_source(page)) == signatures[page]:
                continue
            if newer_refresh_waiting(self.database, row.id, job.id):
                log.info("refresh job %d: a newer refresh of storm %d takes over", job.id,
                         storm.id)
                return
            current = storm_reads.load_page(self.database, storm.id, page,
                                            self.config.parse_options())
            self._show(read, storms.page_message(page), ts,
                       self.renderer.render_storm_page(current.views, page, current.total),
                       source=(storms.page_source(page), current.signature))
        storms.record_rendered(self.database, storm.id, read.version,
                               default_channel=self.config.slack_channel or "")

    def _render_rollup(self, storm_id: int, mention: str = "") -> tuple[
            storms.Storm, RenderedMessage]:
        """The roll-up as it is now, and the storm as read with it: a long storm's from
        its counts, without reading every alert (bot.store.storm_reads)."""
        read = storm_reads.load_rollup(self.database, storm_id, self.config.parse_options())
        if read.tally is not None:
            return read.storm, self.renderer.render_rollup_summary(storm_id, read.tally, mention)
        return read.storm, self.renderer.render_rollup(storm_id, read.views, mention)

    def _show(self, storm: storms.Storm, key: str, ts: str, message: RenderedMessage,
              source: tuple[str, str] | None = None) -> None:
        """Update a message of the storm unless it shows ``message`` already; the pages
        (low priority) leave part of the update budget to the roll-ups and parents."""
        fingerprint = message.fingerprint()
        changed = storm.shown.get(key) != fingerprint
        if changed:
            self._update_message(storm.slack_channel or "", ts, message,
                                 key != storms.ROLLUP_MESSAGE)
        shown = {key: fingerprint}
        if source is not None:
            shown[source[0]] = source[1]  # the page shows its alerts as they are now
        if changed or source is not None:
            record_shown(self.database, storm.id, shown)

    def _storm_reminder(self, job: ClaimedJob, row: AlertRow, view: AlertView,
                        args: ReminderArgs) -> None:
        """A storm gets one reminder, its anchor's, counting the alerts nobody acknowledges:
        one for each alert would be as many mentions in the roll-up's thread. The other
        members' reminders are moot, and so is the anchor's once none is left waiting."""
        storm = storms.load_storm(self.database, row.storm_id or 0)
        if storm is None or storm.anchor_alert_id != row.id or not storm.slack_ts:
            log.info("alert %d: reminder %d is moot (its storm reminds once)", row.id, args.number)
            return
        waiting = storm_reads.count_waiting(self.database, storm.id)
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


def record_shown(db: Database, storm_id: int, shown: dict[str, str]) -> None:
    # Recorded after each update: a job stopped by the budget resumes with the rest.
    with_db_retries(lambda: storms.record_shown(db, storm_id, shown),
                    f"recording what storm {storm_id} shows")
