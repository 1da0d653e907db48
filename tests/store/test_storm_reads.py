"""Reading a storm for one of its messages reads what that message shows: a long roll-up
from counts in the database, a thread page by its place in the list, a reminder's count
in the database. Whatever the storm, each shows exactly what its full list would."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta

from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import insert, update

from bot.clock import utcnow
from bot.db.models import AcknowledgementRow, AlertRow, StormRow
from bot.render import MessageRenderer
from bot.render.rollup import PAGE_ENTRIES, page_count
from bot.render.view import DisplayState
from bot.store.ingest import store_event
from bot.store.storm_reads import (
    count_waiting,
    load_members,
    load_page,
    load_rollup,
    page_ids_statement,
    page_signatures,
)
from bot.thousandeyes import ParseOptions, parse_event
from tests.support.databases import query_plan
from tests.support.payloads import numbered_alert_event

# Rules: the empty one reads "ThousandEyes alert", as does the rule of that name; more
# than the summary's twenty lines sometimes.
RULES = ["", "ThousandEyes alert", "Rule <&> one", *(f"Rule {n:02d}" for n in range(24))]
_numbers = itertools.count()

member = st.fixed_dictionaries({
    "rule": st.sampled_from(RULES),
    "title": st.sampled_from(["a", "B", "b", "c", "zz", ""]),  # "": a test without a name
    "cleared": st.booleans(),
    # (user, withdrawn) of each click on it
    "acks": st.lists(st.tuples(st.sampled_from(["U1", "U2"]), st.booleans()), max_size=2),
    "seen": st.integers(min_value=0, max_value=4),  # seconds: many alerts seen at once
})
storms = st.lists(member, min_size=30, max_size=130)


def make_storm(database, members):
    """The members stored as the webhook stores them, listed in a new storm."""
    base = utcnow() - timedelta(hours=1)
    ids = []
    for spec in members:
        number = next(_numbers)
        name = f"{spec['title']} {number}" if spec["title"] else ""
        for transition in ("trigger", "clear") if spec["cleared"] else ("trigger",):
            payload = numbered_alert_event(transition, number, "reads", name, rule=spec["rule"],
                                           ruleName=spec["rule"])
            result = store_event(database, parse_event(payload), route="default", channel="",
                                 body_text=json.dumps(payload),
                                 now=base + timedelta(seconds=spec["seen"]))
        ids.append(result.alert_pk)
    with database.session() as session:
        storm_id = session.scalar(insert(StormRow).returning(StormRow.id).values(
            lane="reads", anchor_alert_id=ids[0], opened_at=base, last_joined_at=base,
            version=1, rendered_version=1, pages=[], shown={}))
        session.execute(update(AlertRow).where(AlertRow.id.in_(ids)).values(storm_id=storm_id))
        for alert_id, spec in zip(ids, members, strict=True):
            for user, withdrawn in spec["acks"]:
                session.add(AcknowledgementRow(
                    alert_id=alert_id, user_id=user, user_name=f"name of {user}",
                    acknowledged_at=base, withdrawn_at=base if withdrawn else None))
    return storm_id


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(members=storms)
def test_every_message_read_in_part_shows_what_the_full_list_would(database, members):
    storm_id = make_storm(database, members)
    options = ParseOptions()
    renderer = MessageRenderer()
    full = load_members(database, storm_id, options)
    total = len(full.views)

    source = load_rollup(database, storm_id, options)
    if source.tally is None:
        assert total <= PAGE_ENTRIES
        assert [v.alert_ref for v in source.views] == [v.alert_ref for v in full.views]
    else:
        for clicks_arrive in (True, False):
            renderer.clicks_arrive = clicks_arrive
            assert renderer.render_rollup_summary(storm_id, source.tally, "here").payload() == \
                renderer.render_rollup(storm_id, full.views, "here").payload()

    signatures = page_signatures(database, storm_id)
    assert sorted(signatures) == list(range(page_count(total)))
    for page in range(page_count(total)):
        read = load_page(database, storm_id, page, options)
        expected = full.views[page * PAGE_ENTRIES:(page + 1) * PAGE_ENTRIES]
        assert read.total == total
        assert [v.alert_ref for v in read.views] == [v.alert_ref for v in expected]
        assert renderer.render_storm_page(read.views, page, read.total).payload() == \
            renderer.render_storm_page(expected, page, total).payload()
        assert read.signature == signatures[page]

    waiting = sum(1 for v in full.views if v.state == DisplayState.TRIGGERED)
    assert count_waiting(database, storm_id) == waiting


def test_a_page_is_a_range_of_the_storms_index_in_list_order(database):
    storm_id = make_storm(database, [dict(rule="r", title="t", cleared=False, acks=[], seen=0)] * 45)
    plan = query_plan(database, page_ids_statement(storm_id, page=1))
    assert "ix_alerts_storm_order" in plan, plan
    # Read in the index's order: nothing is sorted, no other storm is read.
    assert "TEMP B-TREE" not in plan.upper() and "Sort" not in plan, plan


def test_a_pages_signature_changes_with_what_it_lists_and_only_then(database):
    storm_id = make_storm(database, [dict(rule="r", title="t", cleared=False, acks=[], seen=0)] * 100)
    ids = load_members(database, storm_id, ParseOptions()).ids
    before = page_signatures(database, storm_id)
    # Someone acknowledges the first alert of the second page, then withdraws.
    with database.session() as session:
        session.add(AcknowledgementRow(alert_id=ids[PAGE_ENTRIES], user_id="U1", user_name="one",
                                       acknowledged_at=utcnow()))
    acknowledged = page_signatures(database, storm_id)
    assert [acknowledged[p] == before[p] for p in range(3)] == [True, False, True]
    with database.session() as session:
        session.execute(update(AcknowledgementRow).values(withdrawn_at=utcnow()))
    assert page_signatures(database, storm_id) == before
    # A webhook's event for an alert of the last page (its payload may say anything new).
    with database.session() as session:
        session.execute(update(AlertRow).where(AlertRow.id == ids[-1])
                        .values(last_event_at=utcnow()))
    changed = page_signatures(database, storm_id)
    assert [changed[p] == before[p] for p in range(3)] == [True, True, False]
