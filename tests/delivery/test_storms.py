"""Storm roll-ups end to end: many triggers for one channel become one parent message
that lists them all, takes their replies in its thread and offers Acknowledge all."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.clock import utcnow
from bot.db.models import AlertRow, JobRow, StormRow
from bot.render.actions import ACKNOWLEDGE, ACKNOWLEDGE_ALL, ACKNOWLEDGE_ONE, encode_alert_ref
from bot.render.blockkit import MAX_BLOCKS, MAX_SECTION_TEXT
from tests.support.delivery import alert_messages, drain, send, serving
from tests.support.payloads import numbered_alert_event
from tests.support.slack_requests import click, pick

TAG = "storm"


def name_of(number):
    return f"storm-test-{number:03d}"


def trigger(number, rule=None):
    return numbered_alert_event("trigger", number, TAG, name_of(number), rule=rule)


def clear(number):
    return numbered_alert_event("clear", number, TAG, name_of(number))


def body(message):
    return message.text + json.dumps(message.blocks, ensure_ascii=False)


def elements(message):
    return [e for b in message.blocks if b.get("type") == "actions" for e in b["elements"]]


def action_ids(message):
    return [e.get("action_id") for e in elements(message)]


@pytest.fixture
def storm_config(slack_config):
    return slack_config.with_overrides(storm_rollup=True, storm_threshold=5)


def storm_of(count, server, worker, fake_slack):
    """Send ``count`` triggers at once, deliver them, and return the one roll-up."""
    for number in range(count):
        send(server, trigger(number))
    drain(worker)
    [rollup] = fake_slack.top_level("C0ALERTS")
    return rollup


def alerts(worker):
    with worker.database.session() as session:
        return list(session.scalars(select(AlertRow).order_by(AlertRow.id)))


def test_a_burst_becomes_one_rollup_listing_every_alert(storm_config, fake_slack):
    with serving(storm_config) as (server, worker):
        for number in range(12):
            send(server, trigger(number, rule="Rule A" if number % 2 else "Rule B"))
        drain(worker)
        [rollup] = fake_slack.top_level("C0ALERTS")
        text = body(rollup)
        assert "12 alerts" in text
        for number in range(12):
            assert text.count(name_of(number)) >= 1
        assert "Rule A" in text and "Rule B" in text
        assert ACKNOWLEDGE_ALL in action_ids(rollup) and ACKNOWLEDGE_ONE in action_ids(rollup)
        menu = next(e for e in elements(rollup) if e["type"] == "static_select")
        assert len(menu["options"]) == 12
        # Every alert threads under the roll-up, so any reply about it lands there.
        assert {(a.slack_channel, a.slack_ts) for a in alerts(worker)} == {("C0ALERTS", rollup.ts)}
        assert len(fake_slack.calls_to("chat.postMessage")) == 1
        assert len(fake_slack.calls_to("chat.update")) == 0  # nothing joined after the post


def test_few_alerts_get_their_own_parents(storm_config, fake_slack):
    with serving(storm_config) as (server, worker):
        for number in range(5):
            send(server, trigger(number))
        drain(worker)
    parents = fake_slack.top_level("C0ALERTS")
    assert len(parents) == 5
    assert all(ACKNOWLEDGE in action_ids(parent) for parent in parents)


def test_clears_and_acknowledgements_go_into_the_rollup_thread(storm_config, fake_slack):
    with serving(storm_config) as (server, worker):
        rollup = storm_of(8, server, worker, fake_slack)
        for number in (0, 1):
            send(server, clear(number))
        drain(worker)
        # One reply for both clears, listing them; the roll-up counts them.
        [reply] = fake_slack.thread(rollup)
        assert reply.text.startswith("✅ 2 cleared")
        assert name_of(0) in body(reply) and name_of(1) in body(reply)
        assert "2 cleared" in rollup.text
        by_name = {a.title: a for a in alerts(worker)}

        # One alert acknowledged from the roll-up's menu: a note naming it in the thread.
        ref = encode_alert_ref(by_name[name_of(5)].id)
        response = pick(server.url, ACKNOWLEDGE_ONE, ref, user_id="U0ALICE", user_name="alice",
                        channel_id=rollup.channel, message_ts=rollup.ts)
        assert response.status_code == 200
        drain(worker)
        note = fake_slack.thread(rollup)[-1]
        assert "alice" in body(note) and name_of(5) in body(note)
        assert "1 acknowledged" in rollup.text

        # Acknowledge all: every open alert not yet acknowledged by bob, one note.
        storm_ref = next(e["value"] for e in elements(rollup) if e["action_id"] == ACKNOWLEDGE_ALL)
        response = click(server.url, ACKNOWLEDGE_ALL, storm_ref, user_id="U0BOB",
                         user_name="bob", channel_id=rollup.channel, message_ts=rollup.ts)
        assert response.status_code == 200
        drain(worker)
        note = fake_slack.thread(rollup)[-1]
        assert "*bob* acknowledged all 6 open alerts" in body(note)
        assert "6 acknowledged" in rollup.text and "0 triggered" in rollup.text

        # Once all have cleared, nothing offers Acknowledge for them.
        for number in range(2, 8):
            send(server, clear(number))
        drain(worker)
        assert "8 cleared" in rollup.text
        for message in fake_slack.top_level("C0ALERTS"):
            assert not {ACKNOWLEDGE, ACKNOWLEDGE_ALL, ACKNOWLEDGE_ONE} & set(action_ids(message))
        assert len(fake_slack.top_level("C0ALERTS")) == 1


def test_alerts_arriving_during_the_storm_join_it(storm_config, fake_slack):
    with serving(storm_config) as (server, worker):
        rollup = storm_of(7, server, worker, fake_slack)
        send(server, trigger(7))
        drain(worker)
        assert [m.ts for m in fake_slack.top_level("C0ALERTS")] == [rollup.ts]
        assert name_of(7) in body(rollup) and "8 ThousandEyes alerts" in rollup.text
        assert rollup.updates >= 1


def test_after_a_quiet_period_new_alerts_get_their_own_parent(storm_config, fake_slack):
    with serving(storm_config) as (server, worker):
        rollup = storm_of(7, server, worker, fake_slack)
        # The storm has been quiet for longer than STORM_QUIET, its triggers long past the
        # window: a new alert is an alert of its own again.
        long_ago = utcnow() - storm_config.storm_quiet - timedelta(minutes=1)
        with worker.database.session() as session:
            session.execute(update(StormRow).values(last_joined_at=long_ago))
            session.execute(update(JobRow).values(created_at=long_ago))
        send(server, trigger(50))
        drain(worker)
        tops = fake_slack.top_level("C0ALERTS")
        assert len(tops) == 2 and tops[0].ts == rollup.ts
        assert name_of(50) in body(tops[1]) and ACKNOWLEDGE in action_ids(tops[1])
        assert name_of(50) not in body(rollup)


def test_an_alert_that_arrived_within_the_quiet_period_joins_however_long_its_job_waited(
        storm_config, fake_slack):
    with serving(storm_config) as (server, worker):
        rollup = storm_of(7, server, worker, fake_slack)
        send(server, trigger(7))
        # Its job waited behind the channel's posts: it arrived 3 minutes after the storm's
        # last alert, and runs 6 minutes after it (STORM_QUIET is 5 minutes).
        now = utcnow()
        with worker.database.session() as session:
            session.execute(update(StormRow).values(last_joined_at=now - timedelta(minutes=6)))
            session.execute(update(AlertRow).where(AlertRow.title == name_of(7))
                            .values(last_event_at=now - timedelta(minutes=3)))
        drain(worker)
        assert [m.ts for m in fake_slack.top_level("C0ALERTS")] == [rollup.ts]
        assert name_of(7) in body(rollup)


def test_storm_rollup_off_posts_one_parent_per_alert(storm_config, fake_slack):
    with serving(storm_config.with_overrides(storm_rollup=False)) as (server, worker):
        for number in range(8):
            send(server, trigger(number))
        drain(worker)
    assert len(fake_slack.top_level("C0ALERTS")) == 8


def test_a_long_storm_summarises_in_the_parent_and_lists_all_in_thread_pages(
        storm_config, fake_slack):
    with serving(storm_config) as (server, worker):
        for number in range(95):
            send(server, trigger(number, rule=f"Rule {number % 7}"))
        drain(worker, timeout=60)
        [rollup] = fake_slack.top_level("C0ALERTS")
        pages = fake_slack.thread(rollup)
        assert len(pages) == 3
        listed = "".join(body(page) for page in pages)
        for number in range(95):
            assert name_of(number) in listed
        assert "95 ThousandEyes alerts" in rollup.text and "3 pages" in body(rollup)
        for message in [rollup, *pages]:
            assert len(message.blocks) <= MAX_BLOCKS
            for block in message.blocks:
                assert len(block.get("text", {}).get("text", "")) <= MAX_SECTION_TEXT
        # Pages are updated in place as alerts clear.
        send(server, clear(3))
        drain(worker)
        assert len(fake_slack.thread(rollup)) == 3 + 1  # the clear's reply
        assert "1 cleared" in rollup.text
        page_with_3 = next(p for p in pages if name_of(3) in body(p))
        assert page_with_3.updates >= 1


def test_two_workers_never_split_or_duplicate_a_rollup(storm_config, fake_slack):
    import threading

    from bot.delivery.runner import DeliveryWorker
    from tests.support.delivery import open_jobs

    with serving(storm_config) as (server, first):
        second = DeliveryWorker(first.config, first.database, backoff=lambda attempts: 0.05)
        for number in range(30):
            send(server, trigger(number))
        errors = []

        def run(worker):
            try:
                drain(worker, timeout=60)
            except AssertionError as error:  # the other worker may hold the last job
                if open_jobs(worker):
                    errors.append(error)

        threads = [threading.Thread(target=run, args=(w,)) for w in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        drain(first)
        with first.database.session() as session:
            storms = list(session.scalars(select(StormRow)))
        assert len(storms) == 1
        rollups = [m for m in fake_slack.top_level("C0ALERTS") if m.text.startswith("🌩️")]
        assert [m.ts for m in rollups] == [storms[0].slack_ts]
        members = [a for a in alerts(first) if a.storm_id == storms[0].id]
        for row in alerts(first):
            assert row.slack_ts is not None
            if row.storm_id is None:  # posted on its own before the storm opened
                [own] = [m for m in fake_slack.top_level("C0ALERTS") if m.ts == row.slack_ts]
                assert row.title in body(own) and not own.text.startswith("🌩️")
        rollup_text = body(rollups[0])
        for row in members:
            assert row.slack_ts == rollups[0].ts and row.title in rollup_text
        assert len(fake_slack.top_level("C0ALERTS")) == 30 - len(members) + 1


def test_a_rollup_whose_answer_was_lost_is_not_posted_again(storm_config, fake_slack):
    with serving(storm_config) as (server, worker):
        for number in range(8):
            send(server, trigger(number))
        # Slack posts the roll-up, then the answer is lost (a 503 after the work).
        fake_slack.fail("chat.postMessage", status=503, done_anyway=True)
        drain(worker)
        [rollup] = fake_slack.top_level("C0ALERTS")
        assert "8 ThousandEyes alerts" in rollup.text
        assert {a.slack_ts for a in alerts(worker)} == {rollup.ts}
        send(server, clear(2))
        drain(worker)
        [reply] = fake_slack.thread(rollup)
        assert name_of(2) in body(reply) and "1 cleared" in rollup.text


def test_the_rollup_notifies_the_routes_mention_group_once(storm_config, fake_slack):
    import requests

    from bot.store.routes import RouteOptions, create_route

    with serving(storm_config) as (server, worker):
        route, token = create_route(worker.database, team_id=None, channel_id="C0ALERTS",
                                    created_by="U0ADMIN", options=RouteOptions(mention="here"),
                                    now=utcnow())
        for number in range(7):
            response = requests.post(f"{server.url}/webhooks/thousandeyes/{route.id}",
                                     data=json.dumps(trigger(number)),
                                     headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert response.status_code == 200, response.text
        drain(worker)
        [rollup] = alert_messages(fake_slack, "C0ALERTS")
        # The roll-up's post (the other one announced the webhook's connection).
        [post] = [c for c in fake_slack.calls_to("chat.postMessage")
                  if "te_announcement" not in json.dumps(c.args.get("blocks"))]
        assert str(post.args["text"]).startswith("<!here>")
        for number in range(7):
            requests.post(f"{server.url}/webhooks/thousandeyes/{route.id}",
                          data=json.dumps(clear(number)),
                          headers={"Authorization": f"Bearer {token}"}, timeout=10)
        drain(worker)
        assert "<!here>" not in rollup.text  # updates never mention


def test_more_than_the_threshold_within_the_window_starts_a_storm(storm_config, fake_slack):
    with serving(storm_config) as (server, worker):
        for number in range(5):  # one at a time: never more than one waiting
            send(server, trigger(number))
            drain(worker)
        assert len(fake_slack.top_level("C0ALERTS")) == 5
        for number in (5, 6):  # the 6th and 7th within STORM_WINDOW: one roll-up
            send(server, trigger(number))
            drain(worker)
        tops = fake_slack.top_level("C0ALERTS")
        assert len(tops) == 6
        assert name_of(5) in body(tops[5]) and name_of(6) in body(tops[5])
        assert ACKNOWLEDGE_ALL in action_ids(tops[5])


def test_names_in_a_rollup_are_escaped(storm_config, fake_slack):
    with serving(storm_config) as (server, worker):
        for number in range(7):
            payload = trigger(number, rule="<!channel> rule & co")
            payload["alert"]["testName"] = f"<@U0EVIL> test {number}"
            send(server, payload)
        drain(worker)
        [rollup] = fake_slack.top_level("C0ALERTS")
        text = body(rollup)
        assert "<!channel>" not in text and "<@U0EVIL>" not in text
        assert "&lt;!channel&gt; rule &amp; co" in text


def test_a_rollup_found_after_a_lost_answer_is_refreshed_for_alerts_that_joined_meanwhile(
        storm_config, fake_slack):
    from bot.db.models import JobKind, JobStatus
    from bot.delivery.runner import DeliveryWorker

    with serving(storm_config) as (server, drainer):
        worker = DeliveryWorker(drainer.config, drainer.database, backoff=lambda attempts: 30.0)
        for number in range(8):
            send(server, trigger(number))
        # The roll-up is posted, but its answer is lost: the job will look for it later.
        fake_slack.fail("chat.postMessage", status=503, done_anyway=True)
        assert worker.run_once()
        [rollup] = fake_slack.top_level("C0ALERTS")
        # Meanwhile another alert joins the storm (its roll-up not recorded yet) ...
        send(server, trigger(8))
        while worker.run_once():  # every job but the roll-up's, which waits 30 s
            pass
        with worker.database.session() as session:
            assert session.scalar(select(AlertRow.storm_id).where(
                AlertRow.title == name_of(8))) is not None
        # ... and then the roll-up's job is retried: it finds the post it made.
        with worker.database.session() as session:
            session.execute(update(JobRow).where(JobRow.kind == JobKind.ALERT_TRIGGER,
                                                 JobRow.status == JobStatus.PENDING)
                            .values(next_attempt_at=utcnow()))
        drain(worker)
        assert [m.ts for m in fake_slack.top_level("C0ALERTS")] == [rollup.ts]
        assert name_of(8) in body(rollup) and "9 ThousandEyes alerts" in rollup.text
        worker.stop()


def test_an_alert_posted_on_its_own_before_a_storm_took_it_in_shows_once(
        storm_config, fake_slack):
    # Its parent was posted, but the answer was lost (or the process died mid-post): its
    # job waited to look for it, and meanwhile a storm opened and took the alert in as
    # one still waiting. It must show in one place only: its own parent, found by the
    # look-up, and not also in the roll-up.
    with serving(storm_config) as (server, worker):
        send(server, trigger(0))
        fake_slack.fail("chat.postMessage", status=503, done_anyway=True)
        assert worker.run_once()  # posted; the answer lost, the job waits for a retry
        [own] = fake_slack.top_level("C0ALERTS")
        for number in range(1, 8):
            send(server, trigger(number))
        drain(worker)
        rollups = [m for m in fake_slack.top_level("C0ALERTS") if m.ts != own.ts]
        assert len(rollups) == 1
        [rollup] = rollups
        assert name_of(0) in body(own) and name_of(0) not in body(rollup)
        assert "7 ThousandEyes alerts" in rollup.text, rollup.text
        first = next(a for a in alerts(worker) if a.alert_key.endswith("-0"))
        assert (first.slack_ts, first.storm_id) == (own.ts, None)
