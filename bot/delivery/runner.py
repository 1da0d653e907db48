"""Delivery threads: claim a job, run it, record the outcome, repeat.

The same worker runs inside ``python -m bot serve`` (threads in each web process) and
alone as ``python -m bot worker``. Which job to claim next depends on the channel pacer,
so one rate-limited channel never holds up the others.
"""

from __future__ import annotations

import logging
import random
import signal
import socket
import threading
from datetime import timedelta
from typing import Any, Callable

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from bot.config import Config
from bot.delivery import queue
from bot.delivery.handlers import JobExecutor
from bot.delivery.pacer import ChannelPacer, JobPosts
from bot.delivery.queue import ClaimedJob
from bot.delivery.wakeup import JobWakeup
from bot.render import MessageRenderer
from bot.slack.errors import PermanentError, RateLimited, RetryableError
from bot.slack.oauth import build_installation_store
from bot.slack.workspaces import GatewayProvider
from bot.store.database import Database
from bot.store.retry import with_db_retries
from bot.store.stale import StaleSweep
from bot.clock import utcnow

log = logging.getLogger(__name__)

MAX_UNEXPECTED_ATTEMPTS = 8
IDLE_POLL_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 300.0


def backoff_seconds(attempts: int, rng: random.Random = random.Random()) -> float:
    """Exponential backoff with jitter: ~2 s, 4 s, 8 s … capped at 5 minutes."""
    base = min(MAX_BACKOFF_SECONDS, 2.0 ** max(1, attempts))
    return base * rng.uniform(0.5, 1.5)


class DeliveryWorker:
    def __init__(
        self,
        config: Config,
        database: Database,
        wake: JobWakeup | None = None,
        gateways: GatewayProvider | None = None,
        renderer: MessageRenderer | None = None,
        pacer: ChannelPacer | None = None,
        backoff: Callable[[int], float] = backoff_seconds,
    ) -> None:
        self.config = config
        self.database = database
        self.wake = wake or JobWakeup()
        self.gateways = gateways or GatewayProvider(
            config, build_installation_store(config, database)
        )
        self.pacer = pacer or ChannelPacer(interval=config.slack_post_interval)
        self.renderer = renderer or MessageRenderer(config.templates_dir)
        self.backoff = backoff
        self.stale_sweep = StaleSweep(database, config.stale_after)
        # Longer than the slowest job (a handful of Slack calls, each with one retry), so
        # a live worker never loses its claim to another.
        self.lease = timedelta(seconds=max(120.0, 12 * config.slack_timeout))
        self.worker_id = queue.worker_identity()
        self._claim_lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, threads: int) -> None:
        if self.gateways.log_only:
            log.warning(
                "SLACK_BOT_TOKEN is not set: messages are rendered and written to this log"
                " instead of being posted to Slack"
            )
        released = queue.release_orphans(self.database, socket.gethostname(), utcnow())
        if released:
            log.info("requeued %d job(s) left running by a process that died", released)
        self.wake.set_threads(threads)
        for index in range(threads):
            thread = threading.Thread(
                target=self._loop, name=f"delivery-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        log.info("delivery worker %s started with %d thread(s)", self.worker_id, threads)

    def stop(self, timeout: float = 15.0) -> None:
        """Finish the jobs in hand, then stop; unfinished jobs stay queued."""
        self._stopping.set()
        self.wake.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def run_once(self) -> bool:
        """Claim and run one job; False when none is runnable now."""
        self.stale_sweep.run_if_due(utcnow())
        job = self._claim()
        if job is None:
            return False
        self._execute(job)
        return True

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                worked = self.run_once()
            except SQLAlchemyError as error:
                log.error("delivery: database error %s; retrying shortly", error.__class__.__name__)
                worked = False
                self._stopping.wait(2.0)
            if not worked:
                self.wake.wait(self.pacer.seconds_until_next_change(IDLE_POLL_SECONDS))

    def _claim(self) -> ClaimedJob | None:
        # One claim at a time in this process, so the pacer's view of the channels and
        # the slot reserved for the claimed job cannot be raced by a sibling thread.
        with self._claim_lock:
            blocked, paced = self.pacer.snapshot()
            job = queue.claim_next(
                self.database, self.worker_id, utcnow(), self.lease, blocked, paced
            )
            if job is not None and job.kind in queue.POSTING_KINDS:
                wait = self.pacer.reserve_post(job.channel)
            else:
                wait = 0.0
        if job is not None and wait > 0:
            self._stopping.wait(wait)
        return job

    def _execute(self, job: ClaimedJob) -> None:
        try:
            record = self._run(job)
        finally:
            if job.kind in queue.POSTING_KINDS:
                # Posted or not, the job will not post again: the channel's next slot
                # is now known, so other jobs of it may be claimed.
                self.pacer.end_reservation(job.channel)
        try:
            with_db_retries(record, f"recording the outcome of job {job.id}")
        except SQLAlchemyError as error:
            # The lease will expire and another claim will retry the job.
            log.error("job %d: outcome not recorded (%s)", job.id, error.__class__.__name__)

    def _run(self, job: ClaimedJob) -> Callable[[], bool]:
        """Run the job; returns how to record its outcome."""
        now = utcnow
        try:
            gateway = self.gateways.for_team(job.team_id)
            posts = JobPosts(self.pacer, job.channel)
            JobExecutor(self.config, self.database, gateway, self.renderer, posts).run(job)
        except RateLimited as error:
            self.pacer.block(job.channel, error.retry_after)
            log.warning("job %d (%s): Slack rate limit on %s; retrying in %.1fs",
                        job.id, job.kind, job.channel or "default channel", error.retry_after)
            wait, message = error.retry_after, str(error)
            return lambda: queue.reschedule(self.database, job, now(), wait, message)
        except RetryableError as error:
            delay = self.backoff(job.attempts)
            log.warning("job %d (%s): %s; attempt %d, retrying in %.1fs",
                        job.id, job.kind, error, job.attempts, delay)
            message = str(error)
            return lambda: queue.reschedule(self.database, job, now(), delay, message)
        except PermanentError as error:
            log.error(
                "job %d (%s) failed permanently: %s. Fix the cause, then run"
                " `python -m bot jobs retry %d`", job.id, job.kind, error, job.id,
            )
            message = str(error)
            return lambda: queue.dead_letter(self.database, job, now(), message)
        except SQLAlchemyError as error:
            delay = self.backoff(job.attempts)
            log.error("job %d (%s): database error %s; retrying in %.1fs",
                      job.id, job.kind, error.__class__.__name__, delay)
            return lambda: queue.reschedule(self.database, job, now(), delay, "database error")
        except Exception as error:  # noqa: BLE001 - last resort, traceback logged below
            # A bug or an error no one foresaw must not kill this thread (delivery would
            # stop while /healthz stays green): log it with its traceback and retry a
            # few times before dead-lettering.
            log.exception("job %d (%s): unexpected error", job.id, job.kind)
            reason = f"unexpected error: {error.__class__.__name__}: {error}"[:500]
            if job.attempts >= MAX_UNEXPECTED_ATTEMPTS:
                return lambda: queue.dead_letter(self.database, job, now(), reason)
            delay = self.backoff(job.attempts)
            return lambda: queue.reschedule(self.database, job, now(), delay, reason)
        return lambda: queue.complete(self.database, job, now())


# --- process integration ---------------------------------------------------------------

def start_in_process(app: Flask) -> None:
    """gunicorn ``post_worker_init`` hook: delivery threads beside the web threads."""
    from bot.services import services

    app_services = services(app)
    config = app_services.config
    if config.delivery_threads == 0:
        log.info("DELIVERY_THREADS=0: this process only accepts webhooks")
        return
    worker = DeliveryWorker(config, app_services.database, wake=app_services.jobs_waiting,
                            renderer=app_services.renderer)
    worker.start(config.delivery_threads)
    app_services.delivery_worker = worker


def stop_in_process(app: Flask) -> None:
    from bot.services import services

    app_services = services(app)
    worker, app_services.delivery_worker = app_services.delivery_worker, None
    if worker is not None:
        worker.stop()


def run_worker_forever(config: Config, database: Database) -> int:
    """``python -m bot worker``: delivery only, until SIGTERM or SIGINT."""
    worker = DeliveryWorker(config, database)
    stop = threading.Event()

    def _on_signal(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping after the jobs in hand", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    worker.start(max(1, config.delivery_threads))
    stop.wait()
    worker.stop()
    return 0
