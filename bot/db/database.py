"""Engine, sessions and migrations for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import fcntl
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from bot.db.deadline import ConnectionDeadlines
from bot.db.models import HealthCheckRow
from bot.db.prepared import RawTransaction
from bot.db.sqlite_turn import HostWriterTurn

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any constant works; it only has to be the same for every process of this service.
_MIGRATION_LOCK_ID = 7_310_021_337
_SQLITE_LOCK_TIMEOUT = 30.0  # seconds, the same as the connections' busy_timeout
# Seconds a process waits for another's SQLite migration before it gives up and says so.
_SQLITE_MIGRATION_WAIT = 120.0

# PostgreSQL that stops answering: a request gets its 503 within about five seconds.
CONNECT_TIMEOUT = 3  # seconds to open a connection (psycopg's connect_timeout)
PING_DEADLINE = 1.5  # seconds for the check of a pooled connection as it is taken
HOLD_DEADLINE = 5.0  # seconds a connection may stay out of the pool, commit included
# Server-side, shorter than HOLD_DEADLINE: a live server cancels a slow statement itself.
STATEMENT_TIMEOUT_MS = 4000
# Libpq's own TCP checks, for a network that really drops packets (no ACK): the kernel
# then gives up on the connection instead of retransmitting for minutes.
_TCP_SETTINGS = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
                 "keepalives_count": 3, "tcp_user_timeout": 10_000}


@dataclass(frozen=True)
class DatabaseHealth:
    state: str  # "ok", "unreachable" or "cannot write"
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.state == "ok"


def _write_problem(error: SQLAlchemyError) -> str:
    """A short reason safe to show: the driver's message names no credential."""
    original = getattr(error, "orig", None)
    text_of = str(original).strip().splitlines()[0] if original is not None else ""
    return (text_of or error.__class__.__name__)[:120]


class SchemaNotCurrent(RuntimeError):
    """The database lacks migrations this code needs; the message says what to run."""


class Database:
    """One engine per process; sessions are short and never shared between threads."""

    def __init__(self, url: str, sqlite_synchronous: str = "FULL", pool_size: int = 10) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self._deadlines: ConnectionDeadlines | None = None
        if self.is_sqlite:
            self.engine = self._sqlite_engine(url, sqlite_synchronous)
        else:
            self._deadlines = ConnectionDeadlines()
            self.engine = self._postgres_engine(url, pool_size, self._deadlines)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._writer_lock = threading.RLock()
        database = self.url.database
        self._host_turn = (HostWriterTurn(database) if self.is_sqlite and database
                           and database != ":memory:" else None)

    def _sqlite_engine(self, url: str, synchronous: str) -> Engine:
        database = self.url.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the driver, decide when transactions begin (below).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Any) -> None:
            # IMMEDIATE takes the write lock up front: two writers queue on busy_timeout
            # instead of one failing at once when it upgrades a read lock. This is the
            # single-writer transaction that makes job claiming safe on SQLite.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine

    @staticmethod
    def _postgres_engine(url: str, pool_size: int, deadlines: ConnectionDeadlines) -> Engine:
        """Connections with timeouts at every step (see ``bot.db.deadline``).

        The pooled connection is checked here, under ``PING_DEADLINE``, rather than by
        SQLAlchemy's pre-ping, which runs before any event could give it a deadline.
        """
        engine = create_engine(
            url, pool_size=pool_size, max_overflow=pool_size, pool_timeout=5,
            connect_args={"connect_timeout": CONNECT_TIMEOUT, **_TCP_SETTINGS},
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            autocommit = dbapi_connection.autocommit
            dbapi_connection.autocommit = True
            dbapi_connection.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
            dbapi_connection.autocommit = autocommit

        @event.listens_for(engine, "checkout")
        def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
            key = id(record)
            deadlines.arm(key, dbapi_connection.fileno(), PING_DEADLINE)
            try:
                # One round trip, outside any transaction (none is open at checkout).
                autocommit = dbapi_connection.autocommit
                dbapi_connection.autocommit = True
                dbapi_connection.execute("SELECT 1").close()
                dbapi_connection.autocommit = autocommit
            except engine.dialect.loaded_dbapi.Error as error:  # this connection is spent
                deadlines.disarm(key)
                raise DisconnectionError(
                    f"pooled connection failed its check: {error.__class__.__name__}") from error
            deadlines.arm(key, dbapi_connection.fileno(), HOLD_DEADLINE)

        def _disarm(_dbapi_connection: Any, record: Any, *_args: Any) -> None:
            deadlines.disarm(id(record))

        for name in ("checkin", "invalidate", "soft_invalidate", "close", "detach"):
            event.listen(engine, name, _disarm)
        return engine

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self._sqlite_writer_turn(), self._sessions.begin() as session:
            yield session

    @contextmanager
    def raw_transaction(self, read_only: bool = False) -> Iterator[RawTransaction]:
        """One transaction on a pooled DBAPI connection, for the hot paths (webhooks, delivery).

        The same guarantees as :meth:`session` (committed on success, rolled back on any
        error, SQLite's writer turn and ``BEGIN IMMEDIATE``, the pool's checks and
        deadlines), without the ORM and per-statement machinery (``bot.db.prepared``).
        Errors are SQLAlchemy's, as from a session.

        ``read_only``: the transaction only reads. On SQLite it then takes neither the
        process's writer turn nor the database's write lock (a deferred ``BEGIN``: WAL
        readers never wait for the writer), and its commit writes nothing to disk.
        """
        dbapi_error = self.engine.dialect.loaded_dbapi.Error
        with self._sqlite_writer_turn(wanted=not read_only):
            try:
                pooled = self.engine.raw_connection()
            except dbapi_error as error:
                raise DBAPIError.instance(None, None, error, dbapi_error, hide_parameters=True,
                                          connection_invalidated=True,
                                          dialect=self.engine.dialect) from error
            transaction = RawTransaction(pooled.dbapi_connection, self.engine.dialect,
                                         self.engine.dispatch.before_cursor_execute)
            try:
                if self.is_sqlite:
                    transaction.execute_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
                yield transaction
                transaction.commit()
            except BaseException:
                transaction.rollback()
                raise
            finally:
                transaction.close_cursor()
                if transaction.invalidated:
                    pooled.invalidate()
                else:
                    pooled.close()

    @contextmanager
    def _sqlite_writer_turn(self, wanted: bool = True) -> Iterator[None]:
        """On SQLite, this process's transactions take turns on one lock.

        Every SQLite transaction here is a writer (BEGIN IMMEDIATE). Left to SQLite, the
        threads of one process wait for its write lock in the busy handler, which sleeps in
        growing steps of up to 100 ms and is not fair: under load a webhook could wait a
        second for a lock that was free most of that time. A lock in the process queues them
        and wakes the next one at once; the processes of the host then take turns the same
        way (``bot.db.sqlite_turn``). Reentrant, so a nested session in one thread behaves
        as it did without the lock. A read-only raw transaction (a deferred ``BEGIN``) does
        not take it: ``wanted``.
        """
        if not self.is_sqlite or not wanted:
            yield
            return
        if not self._writer_lock.acquire(timeout=_SQLITE_LOCK_TIMEOUT):
            # Like SQLite's own "database is locked" after busy_timeout: callers answer 503.
            raise OperationalError("BEGIN IMMEDIATE", None,
                                   sqlite3.OperationalError("database is locked"))
        try:
            if self._host_turn is None:
                yield
            else:
                with self._host_turn:
                    yield
        finally:
            self._writer_lock.release()

    def ping(self) -> bool:
        """True when a trivial query answers; used by /healthz."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError as error:
            log.warning("database ping failed: %s", error.__class__.__name__)
            return False

    def health(self, now: datetime) -> DatabaseHealth:
        """Whether the database answers, and whether it also takes a write.

        The write is real (one row of ``health_checks``, committed): a database that
        answers reads but cannot store an event (a full disk, a read-only file or replica)
        must not look healthy while every webhook gets 503.
        """
        if not self.ping():
            return DatabaseHealth("unreachable", "no answer to SELECT 1")
        insert = sqlite_insert if self.is_sqlite else postgresql_insert
        statement = insert(HealthCheckRow).values(name="healthz", checked_at=now)
        try:
            with self.session() as session:
                session.execute(statement.on_conflict_do_update(
                    index_elements=["name"], set_={"checked_at": now}))
        except SQLAlchemyError as error:
            reason = _write_problem(error)
            log.warning("database answers but cannot write: %s", reason)
            return DatabaseHealth("cannot write", reason)
        return DatabaseHealth("ok")

    def upgrade(self) -> None:
        """Apply Alembic migrations up to head; safe when several processes start at once."""
        alembic_config = AlembicConfig()
        alembic_config.set_main_option("script_location", str(MIGRATIONS_DIR))
        # Not the pool's connections: waiting for another process's migration lock, or a
        # long migration, must not meet the statement timeout and deadlines set there.
        engine = self.engine if self.is_sqlite else create_engine(
            self.url, poolclass=NullPool,
            connect_args={"connect_timeout": CONNECT_TIMEOUT, **_TCP_SETTINGS})
        try:
            with self._sqlite_migration_turn(), engine.connect() as connection:
                self._upgrade_on(connection, alembic_config)
        finally:
            if engine is not self.engine:
                engine.dispose()

    @contextmanager
    def _sqlite_migration_turn(self) -> Iterator[None]:
        """On SQLite, one process at a time migrates a database file, from connect to head.

        Alembic commits each SQLite migration on its own (SQLite DDL is not transactional
        to Alembic), so a process that read the version between two of another's commits
        re-applies a migration that is already there. The first connection also switches the
        file to WAL, which a second process meeting it half-done gets as "database is
        locked". An advisory lock on a file beside the database (PostgreSQL has
        pg_advisory_lock) keeps serve, worker and release phase out of each other's way.
        """
        database = self.url.database
        if not self.is_sqlite or not database or database == ":memory:":
            yield
            return
        with open(f"{database}.migrate-lock", "a") as lock_file:
            deadline = time.monotonic() + _SQLITE_MIGRATION_WAIT
            while True:
                try:
                    fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise OperationalError(
                            "migrate", None, sqlite3.OperationalError(
                                f"another process has been migrating {database} for"
                                f" {_SQLITE_MIGRATION_WAIT:.0f} s")) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def _upgrade_on(self, connection: Any, alembic_config: AlembicConfig) -> None:
        if self.is_sqlite:
            self._upgrade_sqlite(connection, alembic_config)
            return
        connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
        connection.commit()
        try:
            alembic_config.attributes["connection"] = connection
            command.upgrade(alembic_config, "head")
            connection.commit()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _MIGRATION_LOCK_ID})
            connection.commit()

    @staticmethod
    def _upgrade_sqlite(connection: Any, alembic_config: AlembicConfig) -> None:
        """Migrate with foreign keys off, as SQLite's own procedure for changing a table asks.

        Why: a constraint changes on SQLite only by copying the table (Alembic's batch
        mode) and dropping the old one, and with foreign keys on, dropping a table that
        other rows point at fails ("FOREIGN KEY constraint failed"): every database that
        held an alert failed to upgrade. The copy keeps each row's id, so the references
        hold again; ``foreign_key_check`` makes sure before the upgrade counts as done.
        The pragma takes effect only outside a transaction, so it goes to the driver's
        connection before SQLAlchemy begins one.
        """
        driver = connection.connection.dbapi_connection
        driver.execute("PRAGMA foreign_keys=OFF")
        try:
            alembic_config.attributes["connection"] = connection
            command.upgrade(alembic_config, "head")
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            if broken:
                raise OperationalError("PRAGMA foreign_key_check", None, sqlite3.OperationalError(
                    f"the migration left {len(broken)} broken reference(s), first in"
                    f" table {broken[0][0]}"))
            connection.commit()
        finally:
            connection.rollback()  # nothing open after the commit; the pragma needs none
            driver.execute("PRAGMA foreign_keys=ON")

    def check_schema(self) -> None:
        """Raise :class:`SchemaNotCurrent` unless every migration has been applied.

        For commands that only read: they never migrate, so they say so instead of
        failing on a missing table.
        """
        heads = set(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())
        with self.engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
        if current != heads:
            at = ", ".join(sorted(current)) or "no migrations yet"
            raise SchemaNotCurrent(
                f"the database is not up to date ({at}; this version needs"
                f" {', '.join(sorted(heads))}): run `python -m bot db upgrade`"
            )

    def dispose(self) -> None:
        self.engine.dispose()
        if self._deadlines is not None:
            self._deadlines.stop()
