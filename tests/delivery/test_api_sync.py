"""The ThousandEyes API sync against the fake API v7 (the official SDK talking HTTP): a lost
clear is confirmed, a missed trigger is posted where its rule posts, integer ids match by
rule, test and start, and a webhook racing the sync never makes two parents or two
clears. Races are made deterministic with the sync's seam between reading the API and
writing (``before_write``), not with timing."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from bot.clock import utcnow
from bot.db.models import AlertRow, AlertState, JobKind, JobRow, ThousandEyesSyncRow
from bot.delivery import api_sync as api_sync_module
from bot.delivery.api_sync import GRACE, LEASE
from bot.store.sync_state import take_lease
from tests.support.delivery import drain, send, serving
from tests.support.fake_thousandeyes import TOKEN, Operation
from tests.support.thousandeyes_webhooks import http_alert, webhook

CONFIRMED = "Confirmed through the ThousandEyes API: the clear webhook never arrived"
FOUND = "Found through the ThousandEyes API: no webhook brought this alert"


def text_of(message) -> str:
    return message.text + json.dumps(message.blocks, ensure_ascii=False)


@pytest.fixture
def linked(slack_config, fake_slack, fake_thousandeyes):
    config = slack_config.with_overrides(thousandeyes_api_token=TOKEN,
                                         thousandeyes_api_url=fake_thousandeyes.url)
    with serving(config) as (server, worker):
        assert worker.api_sync is not None
        yield server, worker


def sync(worker):
    """One run now, whenever the last was (as if the interval had passed)."""
    with worker.database.session() as session:
        session.execute(update(ThousandEyesSyncRow).values(next_run_at=utcnow()))
    report = worker.api_sync.run_if_due()
    assert report is not None
    return report


def count(worker, *conditions) -> int:
    with worker.database.session() as session:
        return session.scalar(select(func.count()).select_from(JobRow).where(*conditions))


def test_a_clear_whose_webhook_never_arrived_is_confirmed_through_the_api(
        linked, fake_slack, fake_thousandeyes):
    server, worker = linked
    alert = http_alert(fake_thousandeyes.account)
    send(server, webhook(alert, "trigger"))
    drain(worker)
    [parent] = fake_slack.top_level()
    fake_thousandeyes.account.clear(alert)  # ThousandEyes cleared it; the webhook is lost

    report = sync(worker)
    drain(worker)

    assert (report.outcome, report.clears, report.found) == ("ok", 1, 0)
    [reply] = fake_slack.thread(parent)
    assert "Cleared" in text_of(reply) and CONFIRMED in text_of(reply)
    assert parent.updates >= 1 and "Acknowledge" not in json.dumps(parent.blocks)
    again = sync(worker)  # the next run finds nothing left to do
    drain(worker)
    assert (again.clears, again.found) == (0, 0) and len(fake_slack.thread(parent)) == 1


def test_an_alert_no_webhook_brought_is_posted_where_its_rule_last_posted(
        linked, fake_slack, fake_thousandeyes):
    server, worker = linked
    account = fake_thousandeyes.account
    earlier = http_alert(account, "shop.example.com", rule_name="Shop <!channel> down",
                         minutes_ago=60)
    send(server, webhook(earlier, "trigger"), channel="C0OTHER")
    account.clear(earlier)
    send(server, webhook(earlier, "clear"), channel="C0OTHER")
    missed = http_alert(account, "shop.example.com", rule=earlier.rule, minutes_ago=10)
    other_rule = http_alert(account, "api.example.com", rule_name="API latency")
    young = http_alert(account, "new.example.com", minutes_ago=GRACE.total_seconds() / 120)
    quiet = http_alert(account, "maintenance.example.com")
    account.add_window("maintenance", quiet.started_at - timedelta(minutes=1), 3600,
                       [quiet.test.test_id])

    report = sync(worker)
    drain(worker)

    assert (report.found, report.clears) == (2, 0)
    [posted] = [m for m in fake_slack.top_level("C0OTHER") if FOUND in text_of(m)]
    assert "Shop &lt;!channel&gt; down" in text_of(posted)  # escaped, never a ping
    assert "<!channel>" not in text_of(posted)
    [elsewhere] = fake_slack.top_level("C0ALERTS")  # a rule never seen: the default channel
    assert "API latency" in text_of(elsewhere) and FOUND in text_of(elsewhere)
    with worker.database.session() as session:
        keys = set(session.scalars(select(AlertRow.alert_key)))
    assert missed.alert_id in keys and other_rule.alert_id in keys
    assert young.alert_id not in keys  # its webhook may be on the way
    assert quiet.alert_id not in keys  # suppressed: ThousandEyes sent nothing on purpose
    assert sync(worker).found == 0  # posted once


def test_older_integer_ids_match_by_rule_test_and_start(linked, fake_slack, fake_thousandeyes):
    server, worker = linked
    alert = http_alert(fake_thousandeyes.account)
    send(server, webhook(alert, "trigger", alert_id=35541))
    drain(worker)
    assert sync(worker).found == 0  # the same alert under its v7 UUID: not posted again
    fake_thousandeyes.account.clear(alert)
    report = sync(worker)
    drain(worker)
    [parent] = fake_slack.top_level()
    assert report.clears == 1 and CONFIRMED in text_of(fake_slack.thread(parent)[0])


def test_a_webhook_clear_arriving_while_the_sync_clears_makes_one_reply(
        linked, fake_slack, fake_thousandeyes):
    server, worker = linked
    alert = http_alert(fake_thousandeyes.account)
    send(server, webhook(alert, "trigger"))
    drain(worker)
    fake_thousandeyes.account.clear(alert)
    # The API said "cleared"; before the sync stores it, the webhook's clear commits.
    worker.api_sync.before_write = lambda: send(server, webhook(alert, "clear"))

    report = sync(worker)
    drain(worker)

    assert (report.clears, report.skipped) == (0, 1), report
    [parent] = fake_slack.top_level()
    [reply] = fake_slack.thread(parent)
    assert CONFIRMED not in text_of(reply)  # the webhook's clear, as usual
    assert count(worker, JobRow.kind == JobKind.ALERT_CLEAR) == 1


def test_a_webhook_clear_after_the_syncs_clear_adds_nothing(linked, fake_slack, fake_thousandeyes):
    server, worker = linked
    alert = http_alert(fake_thousandeyes.account)
    send(server, webhook(alert, "trigger"))
    drain(worker)
    fake_thousandeyes.account.clear(alert)
    assert sync(worker).clears == 1
    send(server, webhook(alert, "clear"))  # ThousandEyes' retry, an hour late
    drain(worker)
    [parent] = fake_slack.top_level()
    assert len(fake_slack.thread(parent)) == 1
    assert count(worker, JobRow.kind == JobKind.ALERT_CLEAR) == 1


def test_a_webhook_trigger_arriving_while_the_sync_posts_it_makes_one_parent(
        linked, fake_slack, fake_thousandeyes):
    server, worker = linked
    alert = http_alert(fake_thousandeyes.account)
    worker.api_sync.before_write = lambda: send(server, webhook(alert, "trigger"))
    report = sync(worker)
    drain(worker)
    assert (report.found, report.skipped) == (0, 1)
    [parent] = fake_slack.top_level()
    assert FOUND not in text_of(parent)
    assert count(worker, JobRow.kind == JobKind.ALERT_TRIGGER) == 1


def test_the_late_webhook_of_a_found_alert_refreshes_its_parent_without_a_second(
        linked, fake_slack, fake_thousandeyes):
    server, worker = linked
    alert = http_alert(fake_thousandeyes.account)
    assert sync(worker).found == 1
    drain(worker)
    [parent] = fake_slack.top_level()
    assert FOUND in text_of(parent)
    send(server, webhook(alert, "trigger"))  # ThousandEyes' retry brings it after all
    drain(worker)
    assert fake_slack.top_level() == [parent] and fake_slack.thread(parent) == []
    assert FOUND not in text_of(parent) and "Frankfurt, Germany" in text_of(parent)
    assert "Triggered 2 times" not in text_of(parent)
    with worker.database.session() as session:
        row = session.scalars(select(AlertRow)).one()
    assert (row.state, row.trigger_count) == (AlertState.TRIGGERED, 1)


def test_of_two_processes_syncing_one_does_it(linked, fake_thousandeyes):
    server, worker = linked
    other_process = type(worker.api_sync)(worker.config, worker.database,
                                          worker.api_sync.api, holder="other-host:1:boot")
    http_alert(fake_thousandeyes.account)
    during = []
    worker.api_sync.before_write = lambda: during.append(other_process.run_if_due())
    report = worker.api_sync.run_if_due()
    assert report is not None and report.found == 1
    assert during == [None]  # the lease was held
    assert other_process.run_if_due() is None  # and the run is not due again yet
    listed = fake_thousandeyes.calls_to(Operation.GET_ALERTS)
    assert len(listed) == 2  # active, cleared: by one process only


def test_a_holder_that_died_loses_the_lease(linked, fake_thousandeyes):
    server, worker = linked
    assert take_lease(worker.database, "dead-host:1:boot", utcnow(), LEASE) is not None
    assert worker.api_sync.run_if_due() is None
    base = worker.api_sync.clock
    worker.api_sync.clock = lambda: base() + LEASE + timedelta(seconds=1)
    assert worker.api_sync.run_if_due() is not None


def test_every_page_is_read_following_the_cursor(linked, fake_thousandeyes, monkeypatch):
    server, worker = linked
    monkeypatch.setattr(api_sync_module, "PAGE_SIZE", 3)
    raised = [http_alert(fake_thousandeyes.account, f"test {n}") for n in range(7)]
    assert sync(worker).found == 7
    pages = [c for c in fake_thousandeyes.calls_to(Operation.GET_ALERTS)
             if c.query["state"] == ["trigger"]]
    assert len(pages) == 3 and all(p.query["max"] == ["3"] for p in pages)
    with worker.database.session() as session:
        assert set(session.scalars(select(AlertRow.alert_key))) == {a.alert_id for a in raised}
