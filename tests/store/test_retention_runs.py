"""RETENTION from the delivery workers: one process prunes per interval (a lease in the
database), the worker does it on its own, and /metrics counts what went."""

from __future__ import annotations

import threading
from datetime import timedelta

from bot.clock import utcnow
from bot.db.database import Database
from bot.delivery.runner import DeliveryWorker
from bot.metrics.counters import Metrics
from bot.store.pruning import Retention
from bot.store.retention_runs import RUN_EVERY, RetentionRuns
from tests.store.aging import age_everything, count_rows
from tests.support.delivery import drain, send, serving
from tests.support.payloads import numbered_alert_event
from tests.support.waiting import wait_for

RETENTION = Retention(timedelta(days=30))


def old_cleared_alerts(server, worker, count: int) -> None:
    for number in range(count):
        send(server, numbered_alert_event("trigger", number, "lease", "lease"))
        send(server, numbered_alert_event("clear", number, "lease", "lease"))
    drain(worker)
    age_everything(worker.database, timedelta(days=40))


def test_two_processes_pruning_at_once_prune_once(slack_config, fake_slack):
    with serving(slack_config) as (server, worker):
        old_cleared_alerts(server, worker, 3)
        # Two processes: each its own engine and holder name.
        databases = [Database(slack_config.database_url) for _ in range(2)]
        # A budget no loaded machine runs out of: this is about the turn, not the time.
        runs = [RetentionRuns(db, RETENTION, f"host:{n}:boot", budget=120.0)
                for n, db in enumerate(databases)]
        start = threading.Barrier(2)
        now = utcnow()
        results: list = [None, None]

        def run(index: int) -> None:
            start.wait()
            results[index] = runs[index].run_if_due(now)

        threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            ran = [result for result in results if result is not None]
            assert len(ran) == 1 and ran[0].by_table()["alerts"] == 3
            # Not due again for either until the interval has passed, then for one.
            assert runs[0].run_if_due(now + RUN_EVERY / 2) is None
            assert runs[1].run_if_due(now + RUN_EVERY / 2) is None
            later = [run.run_if_due(now + RUN_EVERY + timedelta(seconds=1)) for run in runs]
            assert sum(result is not None for result in later) == 1
        finally:
            for database in databases:
                database.dispose()


def test_a_run_out_of_time_hands_the_lease_back_for_the_next_tick(slack_config, fake_slack):
    with serving(slack_config) as (server, worker):
        old_cleared_alerts(server, worker, 2)
        runs = RetentionRuns(worker.database, RETENTION, "host:1:boot", budget=0.0)
        now = utcnow()
        first = runs.run_if_due(now)
        assert first is not None and not first.complete
        runs.budget = 60.0
        second = runs.run_if_due(now + timedelta(seconds=15))  # not RUN_EVERY later
        assert second is not None and second.by_table()["alerts"] == 2


def test_the_delivery_worker_prunes_on_its_own_and_counts_it(slack_config, fake_slack):
    with serving(slack_config) as (server, worker):
        old_cleared_alerts(server, worker, 2)
        metrics = Metrics()
        pruning = DeliveryWorker(worker.config, worker.database,
                                 on_pruned=metrics.rows_pruned)
        pruning.start(1)
        try:
            # A run stops after RUN_BUDGET seconds and the next goes on a tick later.
            wait_for(lambda: count_rows(worker.database)["alerts"] == 0, 90,
                     "the worker pruned the old alerts")
            wait_for(lambda: metrics.registry.get_sample_value(
                "thousandeyes_pruned_rows_total", {"table": "alerts"}) == 2, 10,
                "the pruned alerts counted")
        finally:
            pruning.stop()
        assert metrics.registry.get_sample_value(
            "thousandeyes_pruned_rows_total", {"table": "events"}) == 4

