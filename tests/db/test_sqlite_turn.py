"""SQLite's writer turn across processes: a transaction holds the host's turn (a lock on
``<database>-turn``) from its start to the end of the outermost one, so a transaction of
another process (a delivery process, a worker) waits in the kernel and starts as soon as
it ends, instead of polling in SQLite's busy handler."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import select

import pytest

from bot.db.database import Database


@pytest.fixture
def sqlite_database(database: Database) -> Database:
    if not database.is_sqlite:
        pytest.skip("PostgreSQL locks rows, not the database")
    return database


def _turn_is_free(database: Database) -> bool:
    """Whether another process could take the turn now (a lock of our own, on a file
    opened apart, conflicts with the database's as another process's would)."""
    fd = os.open(f"{database.url.database}-turn", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # and with it the lock, if we took it
    return True


def test_a_transaction_holds_the_turn_until_the_outermost_one_ends(sqlite_database):
    assert _turn_is_free(sqlite_database)
    with sqlite_database.session():
        assert not _turn_is_free(sqlite_database)
        with sqlite_database.session():  # nested, in the same thread
            assert not _turn_is_free(sqlite_database)
        assert not _turn_is_free(sqlite_database)
    assert _turn_is_free(sqlite_database)
    with sqlite_database.raw_transaction():
        assert not _turn_is_free(sqlite_database)
    assert _turn_is_free(sqlite_database)


def _transaction_in_a_fork(database: Database, go, told: int) -> None:
    go.wait(30)
    with database.session():
        os.write(told, b"in")


def test_a_forked_process_waits_for_the_turn_of_the_one_it_was_forked_from(sqlite_database):
    """gunicorn forks its workers from a master that may have used the database: each
    must take turns with the others, not share the master's lock."""
    with sqlite_database.session():
        pass  # this process has opened the file
    context = multiprocessing.get_context("fork")
    go = context.Event()
    readable, told = os.pipe()
    child = context.Process(target=_transaction_in_a_fork, args=(sqlite_database, go, told))
    child.start()
    try:
        with sqlite_database.session():
            go.set()
            assert select.select([readable], [], [], 1.0)[0] == []  # it waits for us
        assert select.select([readable], [], [], 30.0)[0], "the fork never got its turn"
        child.join(30)
        assert child.exitcode == 0
    finally:
        if child.is_alive():
            child.kill()
        os.close(readable)
        os.close(told)
