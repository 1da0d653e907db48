"""chat.update within Slack's Tier 3: about 50 a minute per workspace, bursts allowed.

The budget's arithmetic is tested with times moved by hand; its shared state with two
database handles (two processes) given the same hand-moved clock; and the whole service
against the fake Slack (which refuses updates past its limit as Slack documents, see
test_fake_slack_limits.py), with the fake's minute shortened and the service's budget
scaled to it, so that pacing has to happen within a few seconds.
"""

from __future__ import annotations

import bisect
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.clock import utcnow
from bot.db.database import Database
from bot.db.models import AlertRow, DeliveryLaneRow, JobKind
from bot.delivery.runner import DeliveryWorker
from bot.delivery.update_budget import UpdateBudget, UpdateBudgetSpent, take_update_slot
from bot.outbox.enqueue import enqueue
from bot.outbox.kinds import updates_lane
from bot.render.actions import ACKNOWLEDGE, ACKNOWLEDGE_ALL, ACKNOWLEDGE_ONE, encode_alert_ref
from tests.support.delivery import drain, hold_lanes, release_lanes, send, serving
from tests.support.fake_slack import FakeSlack
from tests.support.payloads import numbered_alert_event
from tests.support.slack_requests import click, pick
from tests.support.waiting import wait_for

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
TIER_3 = UpdateBudget()  # 50 a minute: a burst of 20, then one every 2 s


# --- the budget's arithmetic, with time moved by hand ---------------------------------


def test_a_quiet_workspace_gets_a_burst_then_one_update_per_interval():
    next_at, slots = T0 - timedelta(hours=1), []
    for _ in range(23):
        slot = TIER_3.slot(next_at, T0)
        slots.append((slot - T0).total_seconds())
        next_at = TIER_3.after(next_at, slot)
    assert slots == [0.0] * 20 + [2.0, 4.0, 6.0]


def test_no_minute_ever_holds_more_than_50_updates_however_they_are_asked_for():
    next_at, now, taken = T0 - timedelta(hours=1), T0, []
    # Asked for in bursts and lulls: 3 at once, a pause, 7 at once, ... for ten minutes.
    for step in range(400):
        now += timedelta(seconds=(0.2, 0.2, 4.0, 0.1, 9.0)[step % 5])
        for _ in range(1 + step % 7):
            slot = TIER_3.slot(next_at, now)
            next_at = TIER_3.after(next_at, slot)
            taken.append(slot)
    taken.sort()
    busiest = max(bisect.bisect_left(taken, start + timedelta(minutes=1), lo=i) - i
                  for i, start in enumerate(taken))
    assert 45 <= busiest <= 50  # all but the odd slot of the minute, never more


def test_updates_of_low_priority_leave_slots_to_a_click():
    next_at = T0 - timedelta(hours=1)
    pages = 0
    while TIER_3.slot(next_at, T0, low_priority=True) == T0:
        next_at = TIER_3.after(next_at, T0)
        pages += 1
    assert pages == TIER_3.burst - TIER_3.keep
    assert TIER_3.slot(next_at, T0) == T0  # a click's refresh still goes at once


# --- shared by every process, through the database ------------------------------------


def test_every_process_takes_from_one_budget_per_workspace(database, database_url):
    with database.session() as session:  # the workspaces' updates lanes exist
        for team in ("T0ONE", "T0TWO"):
            enqueue(session, kind=JobKind.REFRESH_PARENT, alert_id=None, channel="",
                    team_id=team, now=T0)
    other_process = Database(database_url)
    try:
        waits = [take_update_slot(db, "T0ONE", TIER_3, T0, max_wait=2.5)
                 for db in [database, other_process] * 10]
        assert waits == [0.0] * 20
        assert take_update_slot(other_process, "T0ONE", TIER_3, T0, max_wait=2.5) == 2.0
        with pytest.raises(UpdateBudgetSpent) as spent:
            take_update_slot(database, "T0ONE", TIER_3, T0, max_wait=2.5)
        assert spent.value.retry_after == 4.0  # nothing was reserved for it
        # The other workspace's budget is its own.
        assert take_update_slot(database, "T0TWO", TIER_3, T0, max_wait=2.5) == 0.0
        # A claim of the lane waits for the budget too: its next slot is the lane's.
        with database.session() as session:
            next_at = session.get(DeliveryLaneRow, updates_lane("T0ONE")).next_post_at
        assert next_at == T0 + timedelta(seconds=4)
    finally:
        other_process.dispose()


# --- the service against the fake Slack ------------------------------------------------

# The fake's minute shortened to 3 s, with 12 updates in it; the service's budget scaled
# to the same window: a burst of 4, then one update every 3/8 s.
WINDOW = 3.0
SCALED = UpdateBudget(calls=12, window=timedelta(seconds=WINDOW), burst=4, keep=1)


def _scaled_worker(first: DeliveryWorker) -> DeliveryWorker:
    return DeliveryWorker(first.config, first.database, backoff=lambda attempts: 0.05,
                          update_budget=SCALED)


def _spend_update_budget(worker: DeliveryWorker, until: datetime) -> None:
    """The workspace's next update slot is ``until`` (as if other refreshes took the rest)."""
    with worker.database.session() as session:
        lane = session.get(DeliveryLaneRow, updates_lane(None))
        if lane is None:  # no refresh was queued yet: the lane starts with the first one
            session.add(DeliveryLaneRow(lane=updates_lane(None), team_id=None, channel="",
                                        next_post_at=until, ready_at=None))
        else:
            lane.next_post_at = until


def _refused_updates(fake: FakeSlack) -> list:
    return [c for c in fake.calls_to("chat.update") if c.status == 429]


def _busiest_window(fake: FakeSlack) -> int:
    times = sorted(c.at for c in fake.calls_to("chat.update", ok_only=True))
    return max((sum(1 for t in times[i:] if t - start < WINDOW)
                for i, start in enumerate(times)), default=0)


def storm_payload(transition: str, number: int) -> dict:
    return numbered_alert_event(transition, number, "budget", f"budget-test-{number:03d}")


def test_a_storm_with_acknowledgements_and_clears_never_has_an_update_refused(
        slack_config, fake_slack):
    fake_slack.updates_per_minute, fake_slack.update_window = SCALED.calls, WINDOW
    config = slack_config.with_overrides(storm_rollup=True, storm_threshold=5)
    with serving(config) as (server, first):
        worker = _scaled_worker(first)
        for number in range(45):  # a roll-up and two thread pages
            send(server, storm_payload("trigger", number))
        drain(worker, timeout=60)
        [rollup] = fake_slack.top_level("C0ALERTS")
        pages = fake_slack.thread(rollup)
        with worker.database.session() as session:
            ids = list(session.scalars(select(AlertRow.id).order_by(AlertRow.title)))
        # Six people each acknowledge one alert from the roll-up's menu, on either page,
        # one after the other: each changes the roll-up's counts and a page.
        for index, alert_id in enumerate([ids[0], ids[-1], ids[1], ids[-2], ids[2], ids[-3]]):
            assert pick(server.url, ACKNOWLEDGE_ONE, encode_alert_ref(alert_id),
                        user_id=f"U0USER{index}", user_name=f"user{index}",
                        channel_id=rollup.channel, message_ts=rollup.ts).status_code == 200
            drain(worker, timeout=60)
        storm_ref = next(e["value"] for b in rollup.blocks if b.get("type") == "actions"
                         for e in b["elements"] if e["action_id"] == ACKNOWLEDGE_ALL)
        assert click(server.url, ACKNOWLEDGE_ALL, storm_ref, user_id="U0ALL",
                     user_name="everyone", channel_id=rollup.channel,
                     message_ts=rollup.ts).status_code == 200
        drain(worker, timeout=60)
        for number in range(45):
            send(server, storm_payload("clear", number))
        drain(worker, timeout=60)
        worker.stop()

    assert _refused_updates(fake_slack) == []
    # Pacing was needed: without it the fake would have refused some.
    assert len(fake_slack.calls_to("chat.update", ok_only=True)) > SCALED.calls
    assert _busiest_window(fake_slack) <= SCALED.calls
    assert "45 cleared" in rollup.text and "all cleared" in json.dumps(rollup.blocks)
    for page in pages:
        assert "Triggered" not in json.dumps(page.blocks)  # every alert shown cleared


def test_clicks_while_the_budget_is_spent_share_one_update_showing_all_of_them(
        slack_config, fake_slack):
    with serving(slack_config) as (server, first):
        worker = _scaled_worker(first)
        send(server, numbered_alert_event("trigger", 1, "budget", "budget-test-click"))
        drain(worker)
        [parent] = fake_slack.top_level("C0ALERTS")
        with worker.database.session() as session:
            alert_id = session.scalar(select(AlertRow.id))
        # The workspace's budget is spent (other refreshes took it) while three people click.
        _spend_update_budget(worker, until=utcnow() + timedelta(minutes=5))
        worker.start(2)
        for user in ("alice", "bob", "carol"):
            assert click(server.url, ACKNOWLEDGE, encode_alert_ref(alert_id),
                         user_id=f"U0{user.upper()}", user_name=user,
                         channel_id=parent.channel, message_ts=parent.ts).status_code == 200
        wait_for(lambda: len(fake_slack.thread(parent)) == 3, 10, "three notes")
        assert parent.updates == 0
        _spend_update_budget(worker, until=utcnow())  # the next slot comes
        wait_for(lambda: parent.updates >= 1 and all(
            name in json.dumps(parent.blocks) for name in ("U0ALICE", "U0BOB", "U0CAROL")),
            10, "the parent showing all three")
        worker.stop()
    assert parent.updates == 1


def test_a_click_during_a_long_rollup_refresh_takes_it_over_instead_of_waiting_for_it(
        slack_config, fake_slack):
    config = slack_config.with_overrides(storm_rollup=True, storm_threshold=5)
    with serving(config) as (server, worker):
        for number in range(45):  # a roll-up and two thread pages
            send(server, storm_payload("trigger", number))
        drain(worker, timeout=60)
        [rollup] = fake_slack.top_level("C0ALERTS")
        pages = fake_slack.thread(rollup)
        where = dict(channel_id=rollup.channel, message_ts=rollup.ts)
        storm_ref = next(e["value"] for b in rollup.blocks if b.get("type") == "actions"
                         for e in b["elements"] if e["action_id"] == ACKNOWLEDGE_ALL)
        menu = next(e for b in rollup.blocks if b.get("type") == "actions"
                    for e in b["elements"] if e["action_id"] == ACKNOWLEDGE_ONE)
        assert click(server.url, ACKNOWLEDGE_ALL, storm_ref, user_id="U0BOB", user_name="bob",
                     **where).status_code == 200
        mark = len(fake_slack.calls_to("chat.update"))
        # The refresh for bob's click: its roll-up update is slow to answer, as a long
        # pass of paced page updates would be ...
        fake_slack.slow("chat.update", 1.0)
        running = threading.Thread(target=worker.run_once)
        running.start()
        wait_for(lambda: len(fake_slack.calls_to("chat.update")) > mark, 10, "refresh under way")
        # ... when alice picks an alert from the menu: her refresh is queued behind it.
        assert pick(server.url, ACKNOWLEDGE_ONE, menu["options"][3]["value"], user_id="U0ALICE",
                    user_name="alice", **where).status_code == 200
        running.join(10)
        # The running refresh updated the roll-up, then left the pages to the newer one.
        assert len(fake_slack.calls_to("chat.update")) == mark + 1
        assert [page.updates for page in pages] == [0, 0]
        drain(worker, timeout=30)
    assert [page.updates for page in pages] == [1, 1]
    assert all("Triggered" not in json.dumps(page.blocks) for page in pages)


def test_a_refresh_that_would_show_what_the_parent_shows_calls_slack_for_nothing(
        slack_config, fake_slack):
    with serving(slack_config) as (server, worker):
        hold_lanes(worker, seconds=600)  # Slack was slow: the clear arrives before the post
        send(server, numbered_alert_event("trigger", 1, "budget", "budget-test-late"))
        send(server, numbered_alert_event("clear", 1, "budget", "budget-test-late"))
        release_lanes(worker)
        drain(worker)
    [parent] = fake_slack.top_level("C0ALERTS")
    assert "Cleared" in parent.text and len(fake_slack.thread(parent)) == 1
    assert fake_slack.calls_to("chat.update") == []  # it was posted showing it cleared
