"""Statements compiled once per dialect and run on the driver's own cursor.

Why: the webhook's write path is five small statements in one transaction. Run through
SQLAlchemy's ``Connection`` each one pays for a cache key, an execution context and a
result proxy, and the transaction for an ORM ``Session`` around them; together that was
several times SQLite's own work for the statements (bench/ingest.py, issue 15). Here
SQLAlchemy still writes the SQL and converts the values (its dialect's compiler, its
types' bind and result processors, its exception classes); only its per-execution
machinery is skipped.

A :class:`RawTransaction` is what :meth:`bot.db.database.Database.raw_transaction`
yields: one pooled connection, one transaction, the same pool events (PostgreSQL's
checkout check and deadlines) as any other use of the engine.
"""

from __future__ import annotations

import logging
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.engine.interfaces import DBAPIModule
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement
from sqlalchemy.types import TypeEngine

log = logging.getLogger(__name__)


class _Compiled:
    """One statement as one dialect runs it."""

    def __init__(self, statement: ClauseElement, dialect: Dialect,
                 result_types: Sequence[tuple[str, TypeEngine[Any]]]) -> None:
        # A statement compiles to a SQLCompiler, which Compiled's type does not say.
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql: str = compiled.string
        self.positional: bool = compiled.positional
        self.names: tuple[str, ...] = tuple(
            (compiled.positiontup or ()) if compiled.positional else compiled.bind_names.values())
        # The compiler's own table (private); a sequence of processors is only for tuple
        # parameters (IN of tuples), which a prepared statement does not take.
        processors = cast(Mapping[str, Callable[[Any], Any] | None], compiled._bind_processors)
        self.binders: tuple[tuple[str, Callable[[Any], Any] | None], ...] = tuple(
            (name, processors.get(name)) for name in self.names)
        self.row: type[NamedTuple] | None = (
            namedtuple("Row", [name for name, _ in result_types]) if result_types else None)  # type: ignore[assignment]
        self.readers: tuple[Callable[[Any], Any] | None, ...] = tuple(
            type_._cached_result_processor(dialect, None)
            for _, type_ in result_types)

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        """The driver's parameters; a missing value is a KeyError, never a silent NULL."""
        if self.positional:
            return [processor(values[name]) if processor else values[name]
                    for name, processor in self.binders]
        return {name: processor(values[name]) if processor else values[name]
                for name, processor in self.binders}

    def rows(self, raw: list[Sequence[Any]]) -> list[Any]:
        if self.row is None:
            return raw
        readers, row = self.readers, self.row
        return [row(*(reader(value) if reader else value
                      for reader, value in zip(readers, values, strict=False))) for values in raw]


class Prepared:
    """A statement with typed binds (and typed result columns, if it returns rows).

    Compiled on first use per dialect; thread-safe (a race compiles twice, harmlessly).
    """

    def __init__(self, statement: ClauseElement,
                 result_types: Sequence[tuple[str, TypeEngine[Any]]] = ()) -> None:
        self.statement = statement
        self.result_types = tuple(result_types)
        self._by_dialect: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            found = self._by_dialect[dialect.name] = _Compiled(
                self.statement, dialect, self.result_types)
        return found


class RawTransaction:
    """Runs :class:`Prepared` statements on one DBAPI connection inside a transaction.

    Driver errors come out as SQLAlchemy's (``OperationalError``, ``IntegrityError``,
    ``DataError``, ...), as callers of the engine expect; one that means the connection
    is gone marks it, so the pool drops it instead of lending it again.
    """

    def __init__(self, dbapi_connection: Any, dialect: Dialect) -> None:
        self.connection = dbapi_connection
        self.dialect = dialect
        self.cursor = dbapi_connection.cursor()
        self.invalidated = False

    def rows(self, prepared: Prepared, values: Mapping[str, Any]) -> list[Any]:
        """Run the statement; its rows (all of them) if it returns any."""
        compiled = prepared.compiled(self.dialect)
        parameters = compiled.parameters(values)
        try:
            self.cursor.execute(compiled.sql, parameters)
            raw = self.cursor.fetchall() if self.cursor.description is not None else []
        except self.dialect.loaded_dbapi.Error as error:
            raise self.wrap(error, compiled.sql, parameters) from error
        return compiled.rows(raw)

    def first(self, prepared: Prepared, values: Mapping[str, Any]) -> Any | None:
        found = self.rows(prepared, values)
        return found[0] if found else None

    def scalar(self, prepared: Prepared, values: Mapping[str, Any]) -> Any | None:
        found = self.rows(prepared, values)
        return found[0][0] if found else None

    def execute_sql(self, sql: str) -> None:
        """A statement without parameters or rows (BEGIN, SAVEPOINT, COMMIT)."""
        try:
            self.cursor.execute(sql)
        except self.dialect.loaded_dbapi.Error as error:
            raise self.wrap(error, sql, ()) from error

    def commit(self) -> None:
        try:
            self.connection.commit()
        except self.dialect.loaded_dbapi.Error as error:
            raise self.wrap(error, "COMMIT", ()) from error

    def rollback(self) -> None:
        """Roll back what is open; a connection too broken to answer is dropped instead."""
        try:
            self.connection.rollback()
        except self.dialect.loaded_dbapi.Error as error:
            log.warning("rollback failed (%s); the connection is dropped",
                        error.__class__.__name__)
            self.invalidated = True

    def close_cursor(self) -> None:
        """Close the cursor; on a connection already broken that fails, and it is dropped."""
        try:
            self.cursor.close()
        except self.dialect.loaded_dbapi.Error:
            self.invalidated = True

    def wrap(self, error: DBAPIModule.Error, sql: str, parameters: Any) -> BaseException:
        gone = self.dialect.is_disconnect(error, self.connection, self.cursor)
        self.invalidated = self.invalidated or gone
        # hide_parameters: a payload (or a token) must never reach a log through an error.
        return DBAPIError.instance(sql, parameters, error, self.dialect.loaded_dbapi.Error,
                                   hide_parameters=True, connection_invalidated=gone,
                                   dialect=self.dialect)
