"""Engine, sessions and migrations for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import logging
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any constant works; it only has to be the same for every process of this service.
_MIGRATION_LOCK_ID = 7_310_021_337
_SQLITE_LOCK_TIMEOUT = 30.0  # seconds, the same as the connections' busy_timeout


class SchemaNotCurrent(RuntimeError):
    """The database lacks migrations this code needs; the message says what to run."""


class Database:
    """One engine per process; sessions are short and never shared between threads."""

    def __init__(self, url: str, sqlite_synchronous: str = "FULL", pool_size: int = 10) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite:
            self.engine = self._sqlite_engine(url, sqlite_synchronous)
        else:
            self.engine = create_engine(
                url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
                pool_timeout=5,
            )
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._writer_lock = threading.RLock()

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

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self._sqlite_writer_turn(), self._sessions.begin() as session:
            yield session

    @contextmanager
    def _sqlite_writer_turn(self) -> Iterator[None]:
        """On SQLite, this process's transactions take turns on one lock.

        Every SQLite transaction here is a writer (BEGIN IMMEDIATE). Left to SQLite, the
        threads of one process wait for its write lock in the busy handler, which sleeps in
        growing steps of up to 100 ms and is not fair: under load a webhook could wait a
        second for a lock that was free most of that time. A lock in the process queues them
        and wakes the next one at once. Other processes still meet the busy handler.
        Reentrant, so a nested session in one thread behaves as it did without the lock.
        """
        if not self.is_sqlite:
            yield
            return
        if not self._writer_lock.acquire(timeout=_SQLITE_LOCK_TIMEOUT):
            # Like SQLite's own "database is locked" after busy_timeout: callers answer 503.
            raise OperationalError("BEGIN IMMEDIATE", None,
                                   sqlite3.OperationalError("database is locked"))
        try:
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

    def upgrade(self) -> None:
        """Apply Alembic migrations up to head; safe when several processes start at once."""
        alembic_config = AlembicConfig()
        alembic_config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with self.engine.connect() as connection:
            if not self.is_sqlite:
                connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
                connection.commit()
            try:
                alembic_config.attributes["connection"] = connection
                command.upgrade(alembic_config, "head")
                connection.commit()
            finally:
                if not self.is_sqlite:
                    connection.execute(
                        text("SELECT pg_advisory_unlock(:id)"), {"id": _MIGRATION_LOCK_ID}
                    )
                    connection.commit()

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
