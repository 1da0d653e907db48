"""Statements compiled once per dialect and run on the driver's own cursor.

Why: the webhook's write path is five small statements in one transaction. Run through
SQLAlchemy's ``Connection`` each one pays for a cache key, an execution context and a
result proxy, and the transaction for an ORM ``Session`` around them; together that was
several times SQLite's own work for the statements (bench/ingest.py, issue 15). Here
SQLAlchemy still writes the SQL and converts the values (its dialect's compiler, its
types' bind and result processors, its exception classes); only its per-execution
machinery is skipped.

A statement may be any Core statement. Values given when it was built (a LIMIT, a
compared constant) are part of it and are sent with every execution; only the bound
parameters built without a value (``bindparam("lane")``) are the caller's. An IN list is
the one exception: SQLAlchemy expands it at each execution, so a prepared statement takes
its constants written inline (:func:`inline_constants`), or one statement per length of a
list of the caller's binds.

A :class:`RawTransaction` is what :meth:`bot.db.database.Database.raw_transaction`
yields: one pooled connection, one transaction, the same pool events (PostgreSQL's
checkout check and deadlines) as any other use of the engine, and its statements seen by
the engine's ``before_cursor_execute`` listeners (with no ``Connection`` or context: there
is none), so a test or a tool watches them as it watches any other.
"""

from __future__ import annotations

import logging
from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, cast

from sqlalchemy import ColumnElement, Table, TextClause, bindparam, literal_column, text
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.interfaces import DBAPIModule
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, CompoundSelect, Select
from sqlalchemy.types import TypeEngine

log = logging.getLogger(__name__)

# A before_cursor_execute listener: (connection, cursor, statement, parameters, context,
# executemany).
_Observer = Callable[[Any, Any, str, Any, Any, bool], Any]


class _Compiled:
    """One statement as one dialect runs it."""

    def __init__(self, statement: ClauseElement, dialect: Dialect,
                 result_types: Sequence[tuple[str, TypeEngine[Any]]]) -> None:
        # A statement compiles to a SQLCompiler, which Compiled's type does not say.
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql: str = compiled.string
        if "POSTCOMPILE" in self.sql:
            raise ValueError(f"a prepared statement cannot expand an IN list at execution;"
                             f" write its constants inline: {self.sql}")
        self.positional: bool = compiled.positional
        self.names: tuple[str, ...] = tuple(
            (compiled.positiontup or ()) if compiled.positional else compiled.bind_names.values())
        # The compiler's own table (private); a sequence of processors is only for tuple
        # parameters (IN of tuples), which a prepared statement does not take.
        processors = cast(Mapping[str, Callable[[Any], Any] | None], compiled._bind_processors)
        # Values given when the statement was built (a LIMIT, a compared constant): sent
        # with every execution, converted for the driver once, here.
        constants = {name: bind.value for bind, name in compiled.bind_names.items()
                     if not bind.required}
        self.binders: tuple[tuple[str, Callable[[Any], Any] | None, bool, Any], ...] = tuple(
            (name, processors.get(name), name in constants,
             _converted(processors.get(name), constants.get(name)))
            for name in self.names)
        self.returns_rows: bool | None = None  # not known until it first runs
        self.row: type[NamedTuple] | None = (
            namedtuple("Row", [name for name, _ in result_types]) if result_types else None)  # type: ignore[assignment]
        # Only the columns whose type converts what the driver returns (dates, JSON).
        readers = (type_._cached_result_processor(dialect, None) for _, type_ in result_types)
        self.readers: tuple[tuple[int, Callable[[Any], Any]], ...] = tuple(
            (index, reader) for index, reader in enumerate(readers) if reader is not None)

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        """The driver's parameters; a missing value is a KeyError, never a silent NULL."""
        if self.positional:  # a tuple, as SQLAlchemy's own executions pass them
            return tuple([constant if fixed else processor(values[name]) if processor
                          else values[name] for name, processor, fixed, constant in self.binders])
        return {name: constant if fixed else processor(values[name]) if processor else values[name]
                for name, processor, fixed, constant in self.binders}

    def rows(self, raw: list[Sequence[Any]]) -> list[Any]:
        if self.row is None:
            return raw
        readers, make = self.readers, self.row._make
        if not readers:
            return [make(values) for values in raw]
        rows = []
        for values in raw:
            converted = list(values)
            for index, reader in readers:
                converted[index] = reader(converted[index])
            rows.append(make(converted))
        return rows


def insert_returning_id(table: Table, columns: tuple[str, ...], *,
                        unless_present: bool) -> TextClause:
    """An INSERT of ``columns`` (binds named as the columns, typed as they are) returning
    the new row's id; ``unless_present``: a row with the same unique key is left as it is
    and the id is None."""
    # A text statement: SQLAlchemy does not cache the compiled form of its dialects'
    # upserts; SQLite and PostgreSQL share this syntax, and ON CONFLICT DO NOTHING
    # RETURNING id gives None for a repeated key.
    names = ", ".join(columns)
    placeholders = ", ".join(f":{column}" for column in columns)
    conflict = " ON CONFLICT DO NOTHING" if unless_present else ""
    return text(
        f"INSERT INTO {table.name} ({names}) VALUES ({placeholders}){conflict} RETURNING id"
    ).bindparams(*(bindparam(column, type_=table.c[column].type) for column in columns))


def inline_constants(values: Iterable[int | str]) -> list[ColumnElement[Any]]:
    """An IN list's constants written into the SQL (a prepared statement expands no list
    at execution): whole numbers, and strings quoted as SQL quotes them."""
    return [literal_column(str(value) if isinstance(value, int)
                           else "'" + value.replace("'", "''") + "'")
            for value in values]


def _converted(processor: Callable[[Any], Any] | None, value: Any) -> Any:
    return processor(value) if processor is not None and value is not None else value


class Prepared:
    """A statement with typed binds (and typed result columns, if it returns rows).

    A Core SELECT's rows are typed by its own columns unless ``result_types`` says
    otherwise. Compiled on first use per dialect; thread-safe (a race compiles twice,
    harmlessly).
    """

    def __init__(self, statement: ClauseElement,
                 result_types: Sequence[tuple[str, TypeEngine[Any]]] = ()) -> None:
        self.statement = statement
        if not result_types and isinstance(statement, (Select, CompoundSelect)):
            result_types = [(column.name, column.type) for column in statement.selected_columns]
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

    def __init__(self, dbapi_connection: Any, dialect: Dialect,
                 observers: Iterable[_Observer] = ()) -> None:
        self.connection = dbapi_connection
        self.dialect = dialect
        self.cursor = dbapi_connection.cursor()
        self.invalidated = False
        # The engine's before_cursor_execute listeners (usually none: then nothing is called).
        self.observers = observers

    def rows(self, prepared: Prepared, values: Mapping[str, Any]) -> list[Any]:
        """Run the statement; its rows (all of them) if it returns any."""
        compiled = prepared.compiled(self.dialect)
        return compiled.rows(self._execute(compiled, compiled.parameters(values)))

    def affected(self, prepared: Prepared, values: Mapping[str, Any]) -> int:
        """Run an UPDATE, DELETE or INSERT; how many rows it matched."""
        compiled = prepared.compiled(self.dialect)
        self._execute(compiled, compiled.parameters(values))
        count: int = self.cursor.rowcount
        return count

    def _execute(self, compiled: _Compiled, parameters: Any) -> list[Sequence[Any]]:
        for observe in self.observers:
            observe(None, self.cursor, compiled.sql, parameters, None, False)
        try:
            self.cursor.execute(compiled.sql, parameters)
            if compiled.returns_rows is None:
                # Learnt once: psycopg builds the whole description each time it is asked.
                compiled.returns_rows = self.cursor.description is not None
            return self.cursor.fetchall() if compiled.returns_rows else []
        except self.dialect.loaded_dbapi.Error as error:
            raise self.wrap(error, compiled.sql, parameters) from error

    def first(self, prepared: Prepared, values: Mapping[str, Any]) -> Any | None:
        found = self.rows(prepared, values)
        return found[0] if found else None

    def scalar(self, prepared: Prepared, values: Mapping[str, Any]) -> Any | None:
        found = self.rows(prepared, values)
        return found[0][0] if found else None

    def execute_sql(self, sql: str) -> None:
        """A statement without parameters or rows (BEGIN, SAVEPOINT, COMMIT)."""
        for observe in self.observers:
            observe(None, self.cursor, sql, (), None, False)
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
