"""RETENTION: old finished rows go, in batches; open alerts, recent events and pending
jobs stay; a webhook racing a prune loses nothing. Time passes by moving every stored
timestamp back (tests/store/aging.py), never by waiting."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select, text

from bot.clock import utcnow
from bot.db.models import AlertRow, AlertState, EventRow, JobRow, JobStatus
from bot.store.pruning import Retention, Seams, prune
from tests.store.aging import age_everything, count_rows
from tests.support.delivery import drain, hold_lanes, release_lanes, send, serving
from tests.support.payloads import load_sample, numbered_alert_event
from tests.support.waiting import wait_for

RETENTION = Retention(timedelta(days=30))
OLD = timedelta(days=40)


@pytest.fixture
def service(slack_config, fake_slack):
    with serving(slack_config) as running:
        yield running


def alert_rows(database) -> dict[str, AlertRow]:
    with database.session() as session:
        return {row.alert_key: row for row in session.scalars(select(AlertRow))}


def event_ids(database) -> set[str]:
    with database.session() as session:
        return set(session.scalars(select(EventRow.event_id)))


def jobs_by_status(database) -> dict[str, int]:
    with database.session() as session:
        statuses = list(session.scalars(select(JobRow.status)))
    return {status: statuses.count(status) for status in set(statuses)}


def test_old_finished_rows_go_and_open_alerts_recent_events_and_pending_jobs_stay(
        service, fake_slack):
    server, worker = service
    database = worker.database
    send(server, numbered_alert_event("trigger", 1, "ret", "cleared long ago"))
    send(server, numbered_alert_event("clear", 1, "ret", "cleared long ago"))
    send(server, numbered_alert_event("trigger", 2, "ret", "open for weeks"))
    send(server, load_sample("test"))  # the Test button: an event of no alert
    drain(worker)
    # A clear whose job is still waiting (Slack held it back) when the clock moves on.
    send(server, numbered_alert_event("trigger", 3, "ret", "clear not delivered"))
    drain(worker)
    hold_lanes(worker, 3600)
    send(server, numbered_alert_event("clear", 3, "ret", "clear not delivered"))
    age_everything(database, OLD)
    send(server, numbered_alert_event("trigger", 4, "ret", "recent"))
    send(server, numbered_alert_event("clear", 4, "ret", "recent"))

    pruned = prune(database, utcnow(), RETENTION)

    alerts = alert_rows(database)
    assert set(alerts) == {"ret-2", "ret-3", "ret-4"}  # open, pending job, recent
    assert alerts["ret-2"].state == AlertState.TRIGGERED
    assert event_ids(database) == {"ret-trigger-2", "ret-trigger-3", "ret-clear-3",
                                   "ret-trigger-4", "ret-clear-4"}
    assert pruned.by_table()["alerts"] == 1 and pruned.by_table()["events"] == 3
    # ret-1's trigger, clear and parent refresh; the Test button's.
    assert pruned.by_table()["outbox_jobs"] == 4
    assert jobs_by_status(database)[JobStatus.PENDING] >= 1  # ret-3's clear, held back

    # Nothing lost: ret-3's clear is delivered once Slack lets it.
    release_lanes(worker)
    drain(worker)
    [parent] = [m for m in fake_slack.top_level() if "clear not delivered" in m.text]
    assert any("Cleared" in reply.text for reply in fake_slack.thread(parent))
    assert prune(database, utcnow(), RETENTION).total == 0  # ret-3 is recent again


def test_a_clear_for_an_old_open_alert_still_threads_after_its_neighbours_went(
        service, fake_slack):
    server, worker = service
    send(server, numbered_alert_event("trigger", 1, "old", "still open"))
    send(server, numbered_alert_event("trigger", 2, "old", "gone"))
    send(server, numbered_alert_event("clear", 2, "old", "gone"))
    drain(worker)
    age_everything(worker.database, OLD)

    assert prune(worker.database, utcnow(), RETENTION).by_table()["alerts"] == 1
    assert set(alert_rows(worker.database)) == {"old-1"}

    send(server, numbered_alert_event("clear", 1, "old", "still open"))
    drain(worker)
    [parent] = [m for m in fake_slack.top_level() if "still open" in m.text]
    [reply] = fake_slack.thread(parent)
    assert "Cleared" in reply.text and "Cleared" in parent.text


def test_an_alert_storm_goes_only_once_every_alert_of_it_could(slack_config, fake_slack):
    config = slack_config.with_overrides(storm_rollup=True, storm_threshold=2)
    with serving(config) as (server, worker):
        hold_lanes(worker, 3600)
        for number in range(4):
            send(server, numbered_alert_event("trigger", number, "storm", f"storm test {number}"))
        release_lanes(worker)
        drain(worker)
        for number in range(3):
            send(server, numbered_alert_event("clear", number, "storm", f"storm test {number}"))
        drain(worker)
        age_everything(worker.database, OLD)
        kept = prune(worker.database, utcnow(), RETENTION)
        assert kept.by_table()["alerts"] == 0 and len(alert_rows(worker.database)) == 4

        send(server, numbered_alert_event("clear", 3, "storm", "storm test 3"))
        drain(worker)
        age_everything(worker.database, OLD)
        gone = prune(worker.database, utcnow(), RETENTION)
        assert gone.by_table()["alerts"] == 4 and gone.by_table()["storms"] == 1
        assert count_rows(worker.database)["outbox_jobs"] == 0


def test_a_webhook_for_an_alert_chosen_to_go_keeps_it(service, fake_slack):
    """The webhook lands between the choice and the delete: the delete sees it."""
    server, worker = service
    send(server, numbered_alert_event("trigger", 1, "race", "back again"))
    send(server, numbered_alert_event("clear", 1, "race", "back again"))
    drain(worker)
    age_everything(worker.database, OLD)
    retrigger = numbered_alert_event("trigger", 1, "race", "back again")
    retrigger["eventId"] = "race-trigger-again"
    retrigger["alert"]["dateStart"] = utcnow().strftime("%Y-%m-%d %H:%M:%S")

    pruned = prune(worker.database, utcnow(), RETENTION,
                   seams=Seams(chosen=lambda ids: send(server, retrigger)))

    assert pruned.total == 0
    assert alert_rows(worker.database)["race-1"].state == AlertState.TRIGGERED
    drain(worker)
    assert "race-trigger-again" in event_ids(worker.database)


def blocked_by(database, session) -> bool:
    """Whether another connection waits for a lock ``session`` holds (PostgreSQL)."""
    pid = session.scalar(text("SELECT pg_backend_pid()"))
    with database.engine.connect() as other:
        return bool(other.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"),
            {"pid": pid}))


def test_a_webhook_waiting_for_a_prune_is_stored_and_delivered(service, fake_slack):
    """The webhook comes while the batch holds the alert: it waits, finds the alert gone,
    and stores its event as a new alert. (On SQLite it waits for the write lock; either
    way it runs after the batch.)"""
    server, worker = service
    database = worker.database
    send(server, numbered_alert_event("trigger", 1, "race", "deleted under it"))
    send(server, numbered_alert_event("clear", 1, "race", "deleted under it"))
    drain(worker)
    age_everything(database, OLD)
    posted_before = len(fake_slack.top_level())
    retrigger = numbered_alert_event("trigger", 1, "race", "deleted under it")
    retrigger["eventId"] = "race-trigger-while-pruning"
    answers: list[requests.Response] = []
    webhook = threading.Thread(target=lambda: answers.append(send(server, retrigger)))

    def while_locked(session, ids):
        assert ids, "the alert was chosen and locked"
        webhook.start()
        if not database.is_sqlite:
            wait_for(lambda: blocked_by(database, session), 10, "the webhook waits for the lock")

    pruned = prune(database, utcnow(), RETENTION, seams=Seams(locked=while_locked))
    webhook.join(20)

    assert pruned.by_table()["alerts"] == 1
    assert [answer.status_code for answer in answers] == [200]
    alerts = alert_rows(database)
    assert alerts["race-1"].state == AlertState.TRIGGERED
    assert event_ids(database) == {"race-trigger-while-pruning"}
    drain(worker)
    assert len(fake_slack.top_level()) == posted_before + 1
    assert "deleted under it" in fake_slack.top_level()[-1].text


def test_batches_are_small_and_a_long_backlog_is_pruned_to_the_end(service, monkeypatch):
    server, worker = service
    monkeypatch.setattr("bot.store.pruning.ALERTS_PER_BATCH", 2)
    for number in range(5):
        send(server, numbered_alert_event("trigger", number, "many", "many"))
        send(server, numbered_alert_event("clear", number, "many", "many"))
    drain(worker)
    age_everything(worker.database, OLD)
    pauses: list[float] = []
    pruned = prune(worker.database, utcnow(), RETENTION, pause=pauses.append)
    assert pruned.by_table()["alerts"] == 5 and pruned.complete
    assert alert_rows(worker.database) == {}
    if worker.database.is_sqlite:
        assert len(pauses) >= 3  # a pause between batches, for the webhooks waiting


def test_a_prune_out_of_time_says_so_and_the_next_goes_on(service):
    server, worker = service
    for number in range(3):
        send(server, numbered_alert_event("trigger", number, "slow", "slow"))
        send(server, numbered_alert_event("clear", number, "slow", "slow"))
    drain(worker)
    age_everything(worker.database, OLD)
    out_of_time = prune(worker.database, utcnow(), RETENTION, deadline=0.0)
    assert not out_of_time.complete and out_of_time.total == 0
    assert prune(worker.database, utcnow(), RETENTION).by_table()["alerts"] == 3
