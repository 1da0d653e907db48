"""A storm ends as quietly as it starts: the clears of alerts listed in a roll-up, and the
acknowledgements clicked on it, are told in one thread reply per batch ("12 cleared: …",
grouped like the roll-up), and the roll-up is refreshed once for the batch, updating only
the messages whose content changed. A calm alert keeps its own threaded clear reply.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update

from bot.clock import utcnow
from bot.db.models import AlertRow, JobKind, JobRow
from bot.delivery.runner import DeliveryWorker
from bot.render.actions import ACKNOWLEDGE_ALL, ACKNOWLEDGE_ONE, encode_alert_ref
from bot.store.storms import queue_rollup_refresh
from tests.support.delivery import drain, send, serving
from tests.support.payloads import numbered_alert_event
from tests.support.slack_requests import click, pick
from tests.support.waiting import wait_for


def name_of(number: int) -> str:
    return f"notes-test-{number:03d}"


def alert(transition: str, number: int, rule: str | None = None) -> dict:
    return numbered_alert_event(transition, number, "notes", name_of(number), rule=rule)


def body(message) -> str:
    return message.text + json.dumps(message.blocks, ensure_ascii=False)


def calls_since(fake_slack, mark: int) -> list:
    return [c for c in fake_slack.calls[mark:] if c.method.startswith("chat.")]


@pytest.fixture
def storm_config(slack_config):
    return slack_config.with_overrides(storm_rollup=True, storm_threshold=5)


def storm_of(count, server, worker, fake_slack, rule=lambda number: None):
    for number in range(count):
        send(server, alert("trigger", number, rule(number)))
    drain(worker, timeout=60)
    [rollup] = fake_slack.top_level("C0ALERTS")
    return rollup


def alert_ids(worker) -> dict[str, int]:
    with worker.database.session() as session:
        return {title: id_ for id_, title in session.execute(select(AlertRow.id, AlertRow.title))}


def test_a_storms_clears_are_told_in_one_reply_and_one_refresh(storm_config, fake_slack):
    with serving(storm_config) as (server, worker):
        def rule(number):
            return "Rule A" if number % 3 else "Rule B"

        rollup = storm_of(12, server, worker, fake_slack, rule)
        mark = len(fake_slack.calls)
        for number in range(12):
            send(server, alert("clear", number, rule(number)))
        # A calm alert, in another channel, keeps its own threaded clear reply.
        send(server, alert("trigger", 50), channel="C0OTHER")
        drain(worker)
        [calm] = fake_slack.top_level("C0OTHER")
        send(server, alert("clear", 50), channel="C0OTHER")
        drain(worker)

    [reply] = fake_slack.thread(rollup)
    assert reply.text.startswith("✅ 12 cleared: ")
    text = json.dumps(reply.blocks, ensure_ascii=False)
    assert all(text.count(name_of(n)) == 1 for n in range(12))
    # Grouped like the roll-up: by rule, each group counted.
    assert "*Rule A* (8)" in text and "*Rule B* (4)" in text, text
    assert "12 cleared" in rollup.text and rollup.updates == 1
    [calm_reply] = fake_slack.thread(calm)
    assert calm_reply.text.startswith("✅ Cleared") and name_of(50) in body(calm_reply)
    storm_calls = [c for c in calls_since(fake_slack, mark) if c.args.get("channel") == "C0ALERTS"]
    assert [c.method for c in storm_calls] == ["chat.postMessage", "chat.update"]


def test_each_reply_tells_what_cleared_since_the_last_one(storm_config, fake_slack):
    with serving(storm_config) as (server, worker):
        rollup = storm_of(10, server, worker, fake_slack)
        for number in range(4):
            send(server, alert("clear", number))
        drain(worker)
        for number in range(4, 10):
            send(server, alert("clear", number))
        send(server, alert("clear", 2))  # repeated: already told, not told again
        drain(worker)
    first, second = fake_slack.thread(rollup)
    assert first.text.startswith("✅ 4 cleared") and second.text.startswith("✅ 6 cleared")
    assert [n for n in range(10) if name_of(n) in body(first)] == [0, 1, 2, 3]
    assert [n for n in range(10) if name_of(n) in body(second)] == list(range(4, 10))
    assert "10 cleared" in rollup.text and "all cleared" in json.dumps(rollup.blocks)


def test_acknowledgements_from_the_rollup_are_told_together(storm_config, fake_slack):
    with serving(storm_config) as (server, worker):
        rollup = storm_of(8, server, worker, fake_slack)
        ids = alert_ids(worker)
        where = dict(channel_id=rollup.channel, message_ts=rollup.ts)
        for number in (1, 2):  # alice picks two alerts from the menu
            assert pick(server.url, ACKNOWLEDGE_ONE, encode_alert_ref(ids[name_of(number)]),
                        user_id="U0ALICE", user_name="alice", **where).status_code == 200
        storm_ref = next(e["value"] for b in rollup.blocks if b.get("type") == "actions"
                         for e in b["elements"] if e["action_id"] == ACKNOWLEDGE_ALL)
        assert click(server.url, ACKNOWLEDGE_ALL, storm_ref, user_id="U0BOB",
                     user_name="bob", **where).status_code == 200
        send(server, alert("clear", 7))
        drain(worker)
    [note] = fake_slack.thread(rollup)
    text = body(note)
    assert note.text.startswith("✅ 1 cleared: " + name_of(7))
    assert "*alice* acknowledged" in text and name_of(1) in text and name_of(2) in text
    # bob's click came before the clear: all 8 were open.
    assert "*bob* acknowledged all 8 open alerts of this storm" in text
    assert "7 acknowledged" in rollup.text and "1 cleared" in rollup.text
    with worker.database.session() as session:
        kinds = list(session.scalars(select(JobRow.kind)))
    assert kinds.count(JobKind.STORM_NOTES) == 1 and JobKind.ACK_NOTE not in kinds


def test_a_refresh_updates_only_the_messages_whose_content_changed(storm_config, fake_slack):
    with serving(storm_config) as (server, worker):
        rollup = storm_of(45, server, worker, fake_slack)  # 40 in page 1, 5 in page 2
        first_page, second_page = fake_slack.thread(rollup)
        assert name_of(44) in body(second_page)
        updates = (rollup.updates, first_page.updates, second_page.updates)
        send(server, alert("clear", 44))
        drain(worker)
        assert (rollup.updates, first_page.updates, second_page.updates) == (
            updates[0] + 1, updates[1], updates[2] + 1)
        # Another refresh with nothing new to show calls Slack for nothing.
        with worker.database.session() as session:
            anchor = session.scalar(select(AlertRow).where(AlertRow.storm_id.is_not(None))
                                    .order_by(AlertRow.id))
        mark = len(fake_slack.calls)
        queue_rollup_refresh(worker.database, anchor.storm_id, utcnow())
        drain(worker)
        assert calls_since(fake_slack, mark) == []


def test_a_notes_reply_whose_answer_was_lost_is_not_posted_again_and_loses_nothing(
        storm_config, fake_slack):
    with serving(storm_config) as (server, drainer):
        rollup = storm_of(9, server, drainer, fake_slack)
        # Retries wait until the test lets them: clears arrive between the two attempts.
        worker = DeliveryWorker(drainer.config, drainer.database, backoff=lambda attempts: 30.0)
        for number in range(5):
            send(server, alert("clear", number))
        # Slack posts the reply, then its answer is lost (a 503 after the work).
        fake_slack.fail("chat.postMessage", status=503, done_anyway=True)
        drain_until_posted(worker, fake_slack, rollup)
        for number in range(5, 9):  # ... while its job waits to look for it
            send(server, alert("clear", number))
        with worker.database.session() as session:
            session.execute(update(JobRow).where(JobRow.kind == JobKind.STORM_NOTES)
                            .values(next_attempt_at=utcnow()))
        drain(worker)
        worker.stop()
    replies = fake_slack.thread(rollup)
    assert len(replies) == 2, [r.text for r in replies]
    told = [n for r in replies for n in range(9) if name_of(n) in body(r)]
    assert sorted(told) == list(range(9))  # each clear told once, none lost
    assert "9 cleared" in rollup.text


def drain_until_posted(worker, fake_slack, rollup) -> None:
    """Run jobs until the notes reply reached Slack (its job then waits for a retry)."""
    wait_for(lambda: (worker.run_once(), fake_slack.thread(rollup))[1], 10,
             "the notes reply posted")


def test_once_every_alert_of_a_storm_cleared_a_new_alert_gets_its_own_parent(
        storm_config, fake_slack):
    with serving(storm_config) as (server, worker):
        rollup = storm_of(7, server, worker, fake_slack)
        for number in range(6):
            send(server, alert("clear", number))
        send(server, alert("trigger", 20))  # one alert of the storm is still open: joins it
        drain(worker)
        assert [m.ts for m in fake_slack.top_level("C0ALERTS")] == [rollup.ts]
        assert name_of(20) in body(rollup)
        for number in (6, 20):
            send(server, alert("clear", number))
        drain(worker)
        # The storm is over (STORM_QUIET has not passed): the next alert is news of its own.
        send(server, alert("trigger", 21))
        drain(worker)
    tops = fake_slack.top_level("C0ALERTS")
    assert len(tops) == 2 and name_of(21) in body(tops[1]) and name_of(21) not in body(rollup)
