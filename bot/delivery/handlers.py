"""What each kind of outbox job does in Slack.

Every message is rendered from the state stored *now*, not from the event that queued the
job: a trigger delivered after its clear arrived is posted already cleared. Each Slack
call that creates a message is recorded before the next call, so a retried job resumes
where it stopped instead of posting twice. Posts and updates go through the helpers of
``bot.delivery.messages``; a storm's roll-up and its thread are ``bot.delivery.storm_jobs``.
A parent is only ever updated by a refresh job, so every chat.update is paced by the
workspace's update budget and a message's pending refreshes merge into one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from bot.clock import utcnow
from bot.db.models import AlertRow, JobKind
from bot.db.retry import with_db_retries
from bot.delivery.enrichment import enrich_alert
from bot.delivery.snooze_upstream import run_snooze_upstream
from bot.delivery.storm_jobs import StormJobs
from bot.outbox.claimed import ClaimedJob
from bot.render.kinds import MessageKind
from bot.render.rollup import AckLine
from bot.render.view import AlertView
from bot.slack.errors import PermanentError
from bot.store import storm_notes, storm_reads, storms
from bot.store.acknowledgements import AckNoteArgs
from bot.store.adoption import AdoptionReason, thread_parent
from bot.store.alerts import record_parent_shown
from bot.store.announcements import Announcement
from bot.store.reminders import ReminderArgs, still_applies

log = logging.getLogger(__name__)


class JobExecutor(StormJobs):
    def run(self, job: ClaimedJob) -> None:
        """Do the job's Slack calls (its kind's entry in ``HANDLERS``); raises a
        ``SlackDeliveryError`` when one fails."""
        handler = handler_of(job.kind)
        if handler is None:
            raise PermanentError("unknown_kind", f"job {job.id} is of a kind this version does"
                                 f" not know ({job.kind[:40]!r})")
        handler(self, job)

    # --- event messages -----------------------------------------------------------------

    def webhook_test(self, job: ClaimedJob) -> None:
        self._post(job, self._channel(job), self.renderer.render_webhook_test(self._event(job)))

    def unknown_event(self, job: ClaimedJob) -> None:
        self._post(job, self._channel(job), self.renderer.render_unknown_event(self._event(job)))

    def announcement(self, job: ClaimedJob) -> None:
        try:
            said = Announcement.from_data(job.data)
        except (ValueError, TypeError) as error:
            raise PermanentError("bad_job", f"announcement job {job.id}: {error}") from None
        self._post(job, self._channel(job), self.renderer.render(MessageKind.ANNOUNCEMENT,
                                                                             said.template_context()))

    def snooze_upstream(self, job: ClaimedJob) -> None:
        run_snooze_upstream(self.database, self.thousandeyes, job.data, job.attempts, utcnow())

    # --- alert messages ---------------------------------------------------------------

    def alert_trigger(self, job: ClaimedJob) -> None:
        self._enrich(job)
        row, view = self._alert(job)
        if job.uncertain and self._posted_before_its_storm(job, row):
            return
        if (row.storm_id is None and not self._has_parent(row) and self.config.storm_rollup
                and storms.place_alert(self.database, row.id, job.lane, utcnow(),
                                       self._storm_settings()) is not None):
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
            self._queue_refresh(row)
        if view.trigger_count > 1 and job.progress.note_ts is None:
            posted = self._post(job, row.slack_channel or "", self.renderer.render_retrigger_note(view),
                                thread_ts=row.slack_ts)
            job.progress.note_ts = posted.ts
            self._save_progress(job)

    def alert_clear(self, job: ClaimedJob) -> None:
        self._enrich(job)
        row, view = self._alert(job)
        if row.storm_id is not None:
            # Listed in a roll-up (it joined a storm after its clear was stored): the
            # storm's notes tell its clear with the others'.
            self._hand_to_storm(job, row.storm_id, storm_notes.StormNotes(cleared=(row.id,)))
            return
        if not self._has_parent(row):
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
            self._queue_refresh(row)

    def refresh_parent(self, job: ClaimedJob) -> None:
        row, view = self._alert(job)
        if self._has_parent(row) and self._owns_parent(row):
            if row.storm_id is None:
                self._update_parent(row, view)
            else:
                self._refresh_rollup(job, row)
        # Without a parent the pending trigger job will post the current state anyway.

    def ack_note(self, job: ClaimedJob) -> None:
        row, view = self._alert(job)
        if not self._has_parent(row):
            return
        note = AckNoteArgs.from_data(job.data)
        if note.alerts and row.storm_id is not None:
            # "Acknowledge all", queued by a version before storm notes.
            who = note.responder.user_id
            mine = tuple(storm_reads.load_members(
                self.database, row.storm_id, self.config.parse_options(),
                only=storm_reads.acknowledged_by(self.database, row.storm_id, who)).views)
            message = self.renderer.render_storm_notes([], [AckLine(
                who, note.responder.user_name, True, mine, all_open=True)])
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

    # --- helpers --------------------------------------------------------------------
    def _posted_before_its_storm(self, job: ClaimedJob, row: AlertRow) -> bool:
        """An earlier attempt posted this alert's own parent and its answer was lost (or
        its process died): meanwhile a storm may have taken the alert in as one still
        waiting. Found, it is the alert's parent and the alert leaves the storm, so it
        shows once. An anchor's earlier attempt posted the roll-up: the roll-up's own
        look-up finds that."""
        storm = storms.load_storm(self.database, row.storm_id) if row.storm_id else None
        if (storm is None and self._has_parent(row)) or (
                storm is not None and storm.anchor_alert_id == row.id):
            return False
        found = self._earlier_post(job, self._channel(job))
        if found is None:
            return False
        if storm is not None:
            storms.leave_storm(self.database, row.id, utcnow())
        self.parent_posted = (row.id, found.channel, found.ts, None)
        return True

    def _enrich(self, job: ClaimedJob) -> None:
        """Agents' metrics a thin webhook left out, from ThousandEyes (bot.delivery.enrichment)."""
        if job.alert_id is not None and enrich_alert(self.database, self.thousandeyes,
                                                     job.alert_id, utcnow()):
            self.read_at_claim = None  # the stored payload changed since the claim read it

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
            # It shows this alert from now on: refreshed once the job records that.
            self._queue_refresh(row)
        self.parent_posted = (row.id, channel, ts, None)  # it shows the earlier alert
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
        mention = self._options(row).mention
        message = self.renderer.render_parent(replace(view, mention=mention))
        posted = self._post(job, self._channel(job), message)
        # The job ends here: the parent is recorded with its outcome, in one transaction,
        # with what a refresh of the same state would show (a post found after a lost
        # answer may show an earlier state: not known).
        as_refreshed = self.renderer.render_parent(view) if mention else message
        shown = None if job.uncertain else as_refreshed.fingerprint()
        self.parent_posted = (row.id, posted.channel, posted.ts, shown)

    def _update_parent(self, row: AlertRow, view: AlertView) -> None:
        """Update the parent, unless it shows this already (a trigger posted after its
        clear arrived shows it cleared; a click undone before its refresh ran)."""
        message = self.renderer.render_parent(view)
        shown = message.fingerprint()
        if row.parent_shown == shown:
            return
        self._update_message(row.slack_channel or "", row.slack_ts or "", message)
        with_db_retries(lambda: record_parent_shown(self.database, row.id, shown),
                        f"recording what alert {row.id}'s parent shows")


Handler = Callable[[JobExecutor, ClaimedJob], None]

# What each kind of job does in Slack; what a kind *is* (lane, order, posts) is its
# entry in bot.outbox.kinds.KINDS, keyed by the same JobKind.
HANDLERS: dict[JobKind, Handler] = {
    JobKind.WEBHOOK_TEST: JobExecutor.webhook_test,
    JobKind.UNKNOWN_EVENT: JobExecutor.unknown_event,
    JobKind.ALERT_TRIGGER: JobExecutor.alert_trigger,
    JobKind.ALERT_CLEAR: JobExecutor.alert_clear,
    JobKind.ACK_NOTE: JobExecutor.ack_note,
    JobKind.STORM_PAGE: JobExecutor.storm_page,
    JobKind.STORM_NOTES: JobExecutor.storm_notes,
    JobKind.REFRESH_PARENT: JobExecutor.refresh_parent,
    JobKind.REMINDER: JobExecutor.reminder,
    JobKind.ANNOUNCEMENT: JobExecutor.announcement,
    JobKind.SNOOZE_UPSTREAM: JobExecutor.snooze_upstream,
}


# The kinds whose handler starts by reading its alert (``_alert``): the runner reads it
# in the job's claim (bot.delivery.runner), saving the job a transaction.
_READS_ITS_ALERT = frozenset({
    JobKind.ALERT_TRIGGER, JobKind.ALERT_CLEAR, JobKind.ACK_NOTE, JobKind.STORM_PAGE,
    JobKind.STORM_NOTES, JobKind.REFRESH_PARENT, JobKind.REMINDER,
})


def reads_its_alert(kind: str) -> bool:
    return kind in _READS_ITS_ALERT


def handler_of(kind: str) -> Handler | None:
    """The kind's handler; None for a kind this version does not know (a job queued by a
    newer version, or a typo in the database), which is dead-lettered at once."""
    try:
        return HANDLERS.get(JobKind(kind))
    except ValueError:
        return None
