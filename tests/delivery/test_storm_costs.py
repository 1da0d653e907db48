"""A storm's messages cost what they show, whatever the storm's size: a thread page reads
the alerts it lists, a refresh after one alert changed re-renders the roll-up and the one
page holding that alert, a thread note reads the alerts it names, a reminder counts in
the database. Each message is still exactly what the storm's full list would show."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.db.models import AlertRow, JobKind, JobRow, JobStatus, StormRow
from bot.render.actions import ACKNOWLEDGE_ONE, encode_alert_ref
from bot.render.rollup import PAGE_ENTRIES
from bot.store.storm_reads import load_members
from bot.thousandeyes import events
from tests.support.delivery import drain, drain_due, make_due, send, serving
from tests.support.payloads import numbered_alert_event
from tests.support.slack_requests import pick

TAG = "cost"
SIZE = 200  # five thread pages
MENU = 100  # the roll-up's menu lists this many open alerts (Block Kit's limit)


def name_of(number):
    return f"cost-test-{number:03d}"


def number_of(name):
    return int(name.rsplit("-", 1)[1])


def trigger(number):
    return numbered_alert_event("trigger", number, TAG, name_of(number), rule=f"Rule {number % 3}")


def clear(number):
    return numbered_alert_event("clear", number, TAG, name_of(number), rule=f"Rule {number % 3}")


@pytest.fixture
def storm_config(slack_config):
    return slack_config.with_overrides(storm_rollup=True, storm_threshold=5)


@pytest.fixture
def parsed(monkeypatch):
    """The test names of the stored alerts read back into views, as they are read."""
    names: list[str] = []
    read = events.parse_alert_object

    def spy(obj, *args, **kwargs):
        names.append(str(obj.get("testName")))
        return read(obj, *args, **kwargs)

    monkeypatch.setattr(events, "parse_alert_object", spy)
    return names


class Runs:
    """What each job that ran did: its kind, its data and the alerts it read besides
    its own."""

    def __init__(self, worker, parsed):
        self.worker, self.parsed = worker, parsed
        self.done: set[int] = self._done_ids()
        self.runs: list[tuple[str, dict, set[str]]] = []

    def _done_ids(self):
        with self.worker.database.session() as session:
            return set(session.scalars(select(JobRow.id).where(JobRow.status == JobStatus.DONE)))

    def after_each(self) -> None:
        done = self._done_ids()
        with self.worker.database.session() as session:
            for job in session.scalars(select(JobRow).where(JobRow.id.in_(done - self.done))):
                own = session.scalar(select(AlertRow.title).where(AlertRow.id == job.alert_id))
                self.runs.append((job.kind, dict(job.data or {}), set(self.parsed) - {own}))
        self.done = done
        self.parsed.clear()

    def start(self) -> Callable[[], None]:
        self.runs.clear()
        self.parsed.clear()
        return self.after_each

    def of_kind(self, kind):
        return [(data, names) for ran, data, names in self.runs if ran == kind]


def body(message):
    return message.text + json.dumps(message.blocks, ensure_ascii=False)


def storm_row(worker):
    with worker.database.session() as session:
        return session.scalars(select(StormRow)).one()


def listed(worker):
    """The storm's alerts as the roll-up lists them, every one read (the reference)."""
    return load_members(worker.database, storm_row(worker).id, worker.config.parse_options())


def titles(members):
    return [view.alert.test_name for view in members.views]


def page_of(members, page):
    return members.views[page * PAGE_ENTRIES:(page + 1) * PAGE_ENTRIES]


def shown(message, rendered):
    return (message.text, message.blocks) == (rendered.text, rendered.blocks)


def storm_of(server, worker, fake_slack, runs):
    for number in range(SIZE):
        send(server, trigger(number))
    drain(worker, timeout=120, after_each=runs.start())
    [rollup] = fake_slack.top_level("C0ALERTS")
    return rollup


def test_each_thread_page_reads_only_the_alerts_it_lists(storm_config, fake_slack, parsed):
    with serving(storm_config) as (server, worker):
        runs = Runs(worker, parsed)
        rollup = storm_of(server, worker, fake_slack, runs)
        members = listed(worker)
        order = titles(members)
        pages = fake_slack.thread(rollup)
        assert len(pages) == SIZE // PAGE_ENTRIES

        page_runs = runs.of_kind(JobKind.STORM_PAGE)
        assert sorted(data["page"] for data, _ in page_runs) == list(range(len(pages)))
        for data, names in page_runs:
            page = data["page"]
            assert names <= set(order[page * PAGE_ENTRIES:(page + 1) * PAGE_ENTRIES])
        # The roll-up's post read no alert besides its own: it counts, its menu lists names.
        for _, names in runs.of_kind(JobKind.ALERT_TRIGGER):
            assert names == set()

        # What each shows is what the storm's full list would.
        renderer = worker.renderer
        for page, message in enumerate(pages):
            assert shown(message, renderer.render_storm_page(page_of(members, page), page, SIZE))
        assert shown(rollup, renderer.render_rollup(members.storm.id, members.views))
        assert len(fake_slack.calls_to("chat.update")) == 0


def test_a_refresh_re_renders_only_the_page_holding_the_alert_that_changed(
        storm_config, fake_slack, parsed):
    with serving(storm_config) as (server, worker):
        runs = Runs(worker, parsed)
        rollup = storm_of(server, worker, fake_slack, runs)
        order = titles(listed(worker))
        pages = fake_slack.thread(rollup)[:SIZE // PAGE_ENTRIES]

        # One alert of the fourth page clears.
        cleared = order[3 * PAGE_ENTRIES + 10]
        send(server, clear(number_of(cleared)))
        drain(worker, timeout=60, after_each=runs.start())
        updated = [call.args["ts"] for call in fake_slack.calls_to("chat.update")]
        assert sorted(updated) == sorted([rollup.ts, pages[3].ts])
        assert "1 cleared" in rollup.text and cleared in body(fake_slack.thread(rollup)[-1])
        page_three = set(order[3 * PAGE_ENTRIES:4 * PAGE_ENTRIES])
        for _, refresh in runs.of_kind(JobKind.REFRESH_PARENT):
            assert refresh <= set(order[:MENU + 1]) | page_three
        [(_, note)] = runs.of_kind(JobKind.STORM_NOTES)
        assert note <= {cleared}

        # One alert of the second page acknowledged from the roll-up's menu.
        acknowledged = order[PAGE_ENTRIES + 5]
        ref = encode_alert_ref(_alert_id(worker, acknowledged))
        response = pick(server.url, ACKNOWLEDGE_ONE, ref, user_id="U0ALICE", user_name="alice",
                        channel_id=rollup.channel, message_ts=rollup.ts)
        assert response.status_code == 200
        before = len(updated)
        drain(worker, timeout=60, after_each=runs.start())
        updated = [call.args["ts"] for call in fake_slack.calls_to("chat.update")][before:]
        assert sorted(updated) == sorted([rollup.ts, pages[1].ts])
        assert "1 acknowledged" in rollup.text
        for _, refresh in runs.of_kind(JobKind.REFRESH_PARENT):
            assert refresh <= set(order[:MENU + 2]) | set(order[PAGE_ENTRIES:2 * PAGE_ENTRIES])

        # Both pages, and the roll-up, show what the full list would.
        members = listed(worker)
        renderer = worker.renderer
        for page, message in enumerate(pages):
            assert shown(message, renderer.render_storm_page(page_of(members, page), page, SIZE))
        assert shown(rollup, renderer.render_rollup(members.storm.id, members.views))


def _alert_id(worker, title):
    with worker.database.session() as session:
        return session.scalar(select(AlertRow.id).where(AlertRow.title == title))


def test_a_storm_reminder_counts_the_waiting_alerts_without_reading_them(
        storm_config, fake_slack, parsed):
    reminding = storm_config.with_overrides(reminder_after=timedelta(minutes=15))
    with serving(reminding) as (server, worker):
        for number in range(45):
            send(server, trigger(number))
        drain_due(worker, timeout=60)
        [rollup] = fake_slack.top_level("C0ALERTS")
        for number in (3, 4, 5):
            send(server, clear(number))
        response = pick(server.url, ACKNOWLEDGE_ONE,
                        encode_alert_ref(_alert_id(worker, name_of(9))), user_id="U0ALICE",
                        user_name="alice", channel_id=rollup.channel, message_ts=rollup.ts)
        assert response.status_code == 200
        drain_due(worker, timeout=60)
        with worker.database.session() as session:
            due = list(session.scalars(select(JobRow).where(JobRow.kind == JobKind.REMINDER)))
        for job in due:
            make_due(worker, job)
        runs = Runs(worker, parsed)
        drain(worker, timeout=60, after_each=runs.start())
        [reminder] = [m for m in fake_slack.thread(rollup) if "not acknowledged" in m.text.lower()]
        assert "41 alerts" in body(reminder)
        for _, names in runs.of_kind(JobKind.REMINDER):
            assert names == set()  # its own alert only, as any reminder
