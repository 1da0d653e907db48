"""Delivery threads: claim a job, run it, record its outcome, repeat; and the periodic work.

The same worker runs inside ``python -m bot serve`` (threads in each web process) and
alone as ``python -m bot worker``. Idle threads sleep until the earliest time a job may
be due (``JobWakeup``). Beside them one maintenance thread runs the periodic work: lease
heartbeats, taking over jobs whose holder died, circuit probes, and whatever else is
registered with ``add_periodic``.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from bot.clock import utcnow
from bot.config import Config
from bot.db.database import Database
from bot.db.prepared import RawTransaction
from bot.db.retry import with_db_retries
from bot.delivery.handlers import JobExecutor, reads_its_alert
from bot.delivery.outcome import backoff_seconds, decide
from bot.delivery.pacer import JobPosts
from bot.delivery.update_budget import JobUpdates, UpdateBudget, UpdateBudgetSpent
from bot.outbox import circuit, lanes, leases, queue
from bot.outbox.claimed import ClaimedJob
from bot.outbox.lanes import LaneAfter
from bot.outbox.outcome import Done, Outcome
from bot.outbox.wakeup import JobWakeup
from bot.render import MessageRenderer
from bot.slack.errors import RateLimited, SlackDeliveryError, SlackUnavailable
from bot.slack.oauth import build_installation_store
from bot.slack.workspaces import GatewayProvider
from bot.store.alerts import StoredAlert, read_alert, record_parent_in
from bot.store.pruning import Retention
from bot.store.retention_runs import TICK_SECONDS, PrunedHook, RetentionRuns
from bot.store.stale import StaleSweep
from bot.thousandeyes.api_client import ThousandEyesApi, build_api

log = logging.getLogger(__name__)

# With no job known to be due, one thread still looks this often: a job queued by another
# process (a web process with DELIVERY_THREADS=0) tells no thread here.
IDLE_POLL_SECONDS = 0.5
LEASE_SECONDS = 30.0
HEARTBEAT_SECONDS = 10.0
# A paced channel's next job is claimed this long before its slot, so it is rendered and
# ready to post when the slot comes.
LOOKAHEAD_SECONDS = 0.25


FinishedHook = Callable[[ClaimedJob, Outcome, BaseException | None, datetime], None]


@dataclass
class Periodic:
    name: str
    every: float
    run: Callable[[], object]
    next_at: float = 0.0


class DeliveryWorker:
    def __init__(
        self,
        config: Config,
        database: Database,
        wake: JobWakeup | None = None,
        gateways: GatewayProvider | None = None,
        renderer: MessageRenderer | None = None,
        backoff: Callable[[int], float] = backoff_seconds,
        post_interval: float | None = None,
        lease: float = LEASE_SECONDS,
        heartbeat: float = HEARTBEAT_SECONDS,
        on_finished: FinishedHook | None = None,
        update_budget: UpdateBudget | None = None,
        on_pruned: PrunedHook | None = None,
        thousandeyes: ThousandEyesApi | None = None,
    ) -> None:
        self.config = config
        # The ThousandEyes API link for the jobs that call it (None: THOUSANDEYES_API_TOKEN
        # unset); one client, and so one connection pool, for all of this worker's threads.
        self.thousandeyes = thousandeyes or build_api(config)
        # Told of every outcome once it is recorded (bot.metrics.counters counts them).
        self.on_finished = on_finished
        self.database = database
        self.wake = wake or JobWakeup()
        self.gateways = gateways or GatewayProvider(
            config, build_installation_store(config, database)
        )
        # Log-only delivery calls no one: nothing to pace.
        interval = config.slack_post_interval if post_interval is None else post_interval
        self.post_interval = 0.0 if self.gateways.log_only else interval
        # chat.update per workspace, shared with every process through the database
        # (None: not paced); SLACK_UPDATES_PER_MINUTE unless a test gives its own.
        per_minute = config.slack_updates_per_minute
        self.update_budget = update_budget or (UpdateBudget.per_minute(per_minute)
                                               if per_minute else None)
        if self.gateways.log_only:
            self.update_budget = None
        self.lookahead = timedelta(seconds=LOOKAHEAD_SECONDS if self.post_interval > 0 else 0)
        self.renderer = renderer or MessageRenderer(
            config.templates_dir, clicks_arrive=config.shows_click_buttons)
        self.backoff = backoff
        # Renewed every ``heartbeat`` seconds while the job runs, so a live worker keeps
        # its claim however slow Slack is, and a dead one's job is taken over soon.
        self.lease = timedelta(seconds=lease)
        self.worker_id = leases.worker_identity()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        # The claims and outcomes of this process's delivery threads take turns: a
        # webhook then waits behind at most one of them for the database (SQLite's single
        # writer), instead of behind a burst of one per thread when many channels'
        # slots come at once. The Slack calls, which take the time, still overlap.
        self._database_turn = threading.Lock()
        self._holds_lock = threading.Lock()
        self._holds: set[str] = set()  # lanes held by this worker's running jobs
        self._periodic = [
            Periodic("heartbeat", heartbeat, self._heartbeat),
            Periodic("expire leases", min(2.0, heartbeat), self._expire_leases),
            Periodic("circuit probes", 1.0, self._probe_circuits),
            Periodic("idle lanes with jobs", 30.0, self._ready_forgotten_lanes),
        ]
        # The ThousandEyes API sync (None without THOUSANDEYES_API_TOKEN): a thread of its
        # own, started and stopped with this worker's.
        self.api_sync = _api_sync_for(config, database)
        if config.stale_after is not None:
            stale = StaleSweep(database, config.stale_after)
            self.add_periodic("stale alerts", stale.interval.total_seconds(),
                              lambda: stale.run_if_due(utcnow()))
        if config.retention is not None:
            # RETENTION: one process prunes at a time (a lease in the database).
            retention = RetentionRuns(database, Retention(config.retention, config.flap_window,
                                                          config.storm_quiet),
                                      self.worker_id, on_pruned=on_pruned)
            self.add_periodic("retention", TICK_SECONDS,
                              lambda: retention.run_if_due(utcnow()))

    def add_periodic(self, name: str, every: float, run: Callable[[], object]) -> None:
        """Run ``run`` about every ``every`` seconds on the maintenance thread (errors are
        logged, never fatal). Register before ``start``."""
        self._periodic.append(Periodic(name, every, run))

    def start(self, threads: int) -> None:
        if self.gateways.log_only:
            log.warning(
                "SLACK_BOT_TOKEN is not set: messages are rendered and written to this log"
                " instead of being posted to Slack"
            )
        released = leases.release_orphans(self.database, socket.gethostname(), utcnow())
        if released:
            log.info("requeued %d job(s) left running by a process that died", released)
        self.wake.set_threads(threads)
        for index in range(threads):
            self._spawn(self._loop, f"delivery-{index}")
        self._spawn(self._maintain, "delivery-maintenance")
        if self.api_sync is not None:
            self.api_sync.start()
        self.wake.notify_all()  # look for work left by an earlier run
        log.info("delivery worker %s started with %d thread(s)", self.worker_id, threads)

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self, timeout: float = 15.0) -> None:
        """Finish the jobs in hand, then stop; unfinished jobs stay queued."""
        self._stopping.set()
        self.wake.notify_all()
        if self.api_sync is not None:
            self.api_sync.stop()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
        self.gateways.close()
        if self.thousandeyes is not None:
            self.thousandeyes.close()

    def run_once(self) -> bool:
        """Claim and run one job; False when none is runnable now."""
        with self._database_turn:
            claim = queue.claim_next(self.database, self.worker_id, utcnow(), self.lease,
                                     self.post_interval, self.lookahead, read=_read_alert)
        if claim.job is None:
            if claim.next_due is not None:
                # At least a moment: a lane due now but locked by a webhook's transaction
                # (PostgreSQL) is free again a few milliseconds later.
                self.wake.notify_at(max(0.01, min(IDLE_POLL_SECONDS, self._until(claim.next_due))))
            return False
        self._execute(claim.job, claim.read)
        return True

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                worked = self.run_once()
            except SQLAlchemyError as error:
                log.error("delivery: database error %s; retrying shortly", error.__class__.__name__)
                worked = False
                self._stopping.wait(2.0)
            if not worked and not self._stopping.is_set():
                # One thread keeps the idle poll; the others wait for a wake-up.
                self.wake.notify_at(IDLE_POLL_SECONDS)
                self.wake.wait(30.0)

    # --- one job ---------------------------------------------------------------------

    def _execute(self, job: ClaimedJob, alert: StoredAlert | None = None) -> None:
        posts = JobPosts(self.post_interval, first_at=job.post_at)
        error: BaseException | None = None
        if job.holds_lane:
            with self._holds_lock:
                self._holds.add(job.hold_key)
        executor: JobExecutor | None = None
        try:
            gateway = self.gateways.for_team(job.team_id)
            updates = JobUpdates(self.database, self.update_budget, job.team_id)
            executor = JobExecutor(
                self.config, self.database, gateway, self.renderer, posts, updates,
                lookup_interval=timedelta(seconds=self.config.slack_lookup_interval),
                thousandeyes=self.thousandeyes, read_at_claim=alert)
            executor.run(job)
        except Exception as caught:  # noqa: BLE001 - every error becomes an outcome below
            error = caught
            if not isinstance(caught, (SlackDeliveryError, SQLAlchemyError, UpdateBudgetSpent)):
                log.exception("job %d (%s): unexpected error", job.id, job.kind)
        finally:
            with self._holds_lock:
                self._holds.discard(job.hold_key)
        if posts.answered_at is None and not job.uncertain:
            job.progress.settle()  # it did not post after all (an update, or an early error)
        parent = executor.parent_posted if executor is not None else None
        also = (lambda transaction: record_parent_in(transaction, *parent)) if parent else None
        now = utcnow()
        outcome = decide(error, job_id=job.id, kind=job.kind, attempts=job.attempts,
                         created_at=job.created_at or now, now=now,
                         max_age=timedelta(seconds=self.config.delivery_max_age),
                         backoff=self.backoff)
        lane = self._lane_after(job, posts, error, now)
        slack_ok = self._slack_signal(error)
        try:
            with self._database_turn:
                finished = with_db_retries(
                    lambda: queue.finish(self.database, job, outcome, now, lane, slack_ok, also),
                    f"recording the outcome of job {job.id}")
        except SQLAlchemyError as error_recording:
            # The lease will expire and another claim will retry the job.
            log.error("job %d: outcome not recorded (%s)", job.id,
                      error_recording.__class__.__name__)
            return
        if finished.recorded and isinstance(outcome, Done):
            log.info("job %d (%s) delivered", job.id, job.kind, extra={
                "job_id": job.id, "job_kind": job.kind, "outcome": "delivered",
                "channel": posts.channel_id or job.channel or None})
        if finished.recorded and self.on_finished is not None:
            self.on_finished(job, outcome, error, now)
        if finished.released:
            # Slack answers again: the jobs that were waiting out their backoff go now.
            self.wake.notify_all()
        if lane.next_post_at is not None:
            # The lane's next slot: a thread of this process takes it on time.
            self.wake.notify_at(self._until(lane.next_post_at))

    def _until(self, due: datetime) -> float:
        """Seconds until a thread should claim for something due at ``due``."""
        return (due - self.lookahead - utcnow()).total_seconds()

    def _lane_after(self, job: ClaimedJob, posts: JobPosts, error: BaseException | None,
                    now: Any) -> LaneAfter:
        next_post_at = posts.next_post_at()
        if isinstance(error, RateLimited):
            # Slack's Retry-After binds every process posting to this channel (or, for a
            # refresh, updating in this workspace: its lane's slot is the update budget).
            blocked = now + timedelta(seconds=error.retry_after)
            next_post_at = max(next_post_at or blocked, blocked)
        return LaneAfter(next_post_at=next_post_at, channel_id=posts.channel_id)

    def _slack_signal(self, error: BaseException | None) -> bool | None:
        if self.gateways.log_only:
            return None
        if error is None:
            return True
        if isinstance(error, SlackUnavailable):
            return False
        return None

    # --- periodic work ----------------------------------------------------------------

    def _maintain(self) -> None:
        while not self._stopping.is_set():
            now = time.monotonic()
            for task in self._periodic:
                if now < task.next_at:
                    continue
                task.next_at = now + task.every
                try:
                    task.run()
                except Exception:  # noqa: BLE001 - periodic work must not stop delivery
                    log.exception("delivery: periodic %s failed; trying again later", task.name)
            upcoming = min(task.next_at for task in self._periodic)
            self._stopping.wait(max(0.05, upcoming - time.monotonic()))

    def _heartbeat(self) -> None:
        with self._holds_lock:
            holds = set(self._holds)
        leases.heartbeat(self.database, self.worker_id, holds, utcnow(), self.lease)

    def _expire_leases(self) -> None:
        if leases.expire_leases(self.database, utcnow()):
            self.wake.notify_all()

    def _probe_circuits(self) -> None:
        if circuit.probe_failing_workspaces(self.database, utcnow()):
            self.wake.notify_one()

    def _ready_forgotten_lanes(self) -> None:
        if lanes.ready_lanes_with_pending_jobs(self.database, utcnow()):
            log.warning("delivery: lanes with pending jobs were marked idle; readied them")
            self.wake.notify_one()


def _read_alert(transaction: RawTransaction, job: ClaimedJob) -> StoredAlert | None:
    """The job's alert, read in its claim's transaction, if its handler starts by reading
    it: one transaction per job fewer (bot.outbox.queue.claim_next)."""
    if job.alert_id is None or not reads_its_alert(job.kind):
        return None
    try:
        return read_alert(transaction, job.alert_id, utcnow())
    except SQLAlchemyError:
        raise  # the claim is rolled back and tried again, as any claim that failed
    except Exception:  # noqa: BLE001 - e.g. a stored payload that is not JSON
        # Not the claim's failure: the handler reads the alert again and meets the error
        # where every error of a job becomes its outcome (bot.delivery.outcome).
        log.warning("job %d: its alert could not be read with the claim", job.id)
        return None


def _api_sync_for(config: Config, database: Database) -> Any:
    """The sync (``bot.delivery.api_sync.ApiSync``), or None when nothing links the API.

    Imported here, and only when linked: the SDK's models take seconds to import on a
    busy host, a cost a service without THOUSANDEYES_API_TOKEN must not pay at start
    (the same reason ``bot`` imports ``create_app`` lazily)."""
    if not config.thousandeyes_api_token or config.thousandeyes_sync_interval is None:
        return None
    from bot.delivery.api_sync import ApiSync

    return ApiSync.from_config(config, database)
