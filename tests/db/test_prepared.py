"""Prepared statements on the driver's cursor: what delivery's per-job statements rely on.

Each test runs on the suite's database (SQLite, or PostgreSQL with TEST_DATABASE_URL): the
same statement object compiles once per dialect.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import bindparam, event, literal_column, select, update

from bot.clock import utcnow
from bot.db.models import DeliveryLaneRow
from bot.db.prepared import Prepared

LANES = DeliveryLaneRow.__table__


def _add_lanes(database, *names: str) -> None:
    with database.session() as session:
        for name in names:
            session.add(DeliveryLaneRow(lane=name, channel=name, next_post_at=utcnow()))


def test_constants_written_into_a_core_statement_are_sent_with_it(database):
    _add_lanes(database, "a", "b", "c")
    # The LIMIT and the compared channel are constants of the statement; only the lane
    # prefix is the caller's.
    statement = Prepared(
        select(LANES.c.lane).where(LANES.c.lane >= bindparam("from_lane"),
                                   LANES.c.channel != "b")
        .order_by(LANES.c.lane).limit(1),
        [("lane", LANES.c.lane.type)])
    with database.raw_transaction() as transaction:
        assert [row.lane for row in transaction.rows(statement, {"from_lane": "b"})] == ["c"]
        assert transaction.scalar(statement, {"from_lane": ""}) == "a"


def test_a_value_the_statement_needs_and_the_caller_left_out_is_an_error(database):
    statement = Prepared(select(LANES.c.lane).where(LANES.c.lane == bindparam("lane")))
    with pytest.raises(KeyError), database.raw_transaction() as transaction:
        transaction.rows(statement, {})


def test_an_in_list_bound_at_execution_is_refused_when_compiled(database):
    statement = Prepared(select(LANES.c.lane).where(LANES.c.lane.in_(["a", "b"])))
    with pytest.raises(ValueError, match="IN"), database.raw_transaction() as transaction:
        transaction.rows(statement, {})


def test_an_in_list_of_constants_written_inline_runs(database):
    _add_lanes(database, "a", "b", "c")
    statement = Prepared(
        select(LANES.c.lane).where(LANES.c.lane.in_([literal_column("'a'"),
                                                     literal_column("'c'")]))
        .order_by(LANES.c.lane), [("lane", LANES.c.lane.type)])
    with database.raw_transaction() as transaction:
        assert [row.lane for row in transaction.rows(statement, {})] == ["a", "c"]


def test_an_update_says_how_many_rows_it_changed(database):
    _add_lanes(database, "a", "b")
    statement = Prepared(update(LANES).where(LANES.c.lane == bindparam("lane"))
                         .values(channel=bindparam("channel", type_=LANES.c.channel.type)))
    with database.raw_transaction() as transaction:
        assert transaction.affected(statement, {"lane": "a", "channel": "A"}) == 1
        assert transaction.affected(statement, {"lane": "z", "channel": "Z"}) == 0


def test_statements_on_the_cursor_are_seen_by_the_engine_s_statement_events(database):
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        seen.append(statement)

    statement = Prepared(select(LANES.c.lane).where(LANES.c.lane == bindparam("lane")))
    event.listen(database.engine, "before_cursor_execute", record)
    try:
        with database.raw_transaction() as transaction:
            transaction.rows(statement, {"lane": "a"})
    finally:
        event.remove(database.engine, "before_cursor_execute", record)
    assert any("FROM delivery_lanes" in sql for sql in seen), seen
    if database.is_sqlite:
        assert seen[0] == "BEGIN IMMEDIATE"


def test_a_read_only_transaction_reads_while_a_writer_holds_its_transaction_open(database):
    """SQLite: it neither takes the writer lock nor waits for the process's writer turn."""
    _add_lanes(database, "a")
    statement = Prepared(select(LANES.c.channel).where(LANES.c.lane == bindparam("lane")),
                         [("channel", LANES.c.channel.type)])
    read: list[str] = []

    def reader() -> None:
        with database.raw_transaction(read_only=True) as transaction:
            read.append(transaction.scalar(statement, {"lane": "a"}))

    with database.session() as writer:
        writer.execute(update(LANES).values(channel="changed, not committed"))
        thread = threading.Thread(target=reader)
        thread.start()
        thread.join(10)
        assert not thread.is_alive(), "the read waited for the writer"
    assert read == ["a"]
