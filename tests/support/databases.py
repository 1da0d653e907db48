"""Test databases: a SQLite file per test, or a fresh PostgreSQL schema per test.

``TEST_DATABASE_URL`` (CI sets it) switches every test that uses the ``database_url``
fixture to PostgreSQL, so the same suite proves both backends.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import create_engine, event, text

from bot.config import normalise_database_url


def postgres_base_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL")
    return normalise_database_url(url) if url else None


@contextmanager
def fresh_database_url(tmp_path: Path) -> Iterator[str]:
    base = postgres_base_url()
    if base is None:
        yield f"sqlite:///{tmp_path / 'bot.sqlite3'}"
        return
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def query_plan(database, statement) -> str:
    """The database's own plan for ``statement`` (its values inlined), one line per step.

    On PostgreSQL a handful of rows would make a sequential scan the cheaper plan; with
    scans priced out, the plan still says Seq Scan if no index can serve the query.
    """
    sql = str(statement.compile(database.engine, compile_kwargs={"literal_binds": True}))
    with database.engine.connect() as connection:
        if database.is_sqlite:
            rows = connection.execute(text("EXPLAIN QUERY PLAN " + sql)).all()
            return "\n".join(str(row[-1]) for row in rows)
        connection.execute(text("SET LOCAL enable_seqscan = off"))
        rows = connection.execute(text("EXPLAIN " + sql)).all()
        return "\n".join(str(row[0]) for row in rows)


def statements_sent(database, run: Callable[[], object],
                    keep: Callable[[str], bool]) -> list[tuple[str, object]]:
    """The statements ``run()`` sends to the database that ``keep`` selects, with their
    values, as the driver gets them (raw prepared statements included)."""
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        if keep(statement):
            seen.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", record)
    try:
        run()
    finally:
        event.remove(database.engine, "before_cursor_execute", record)
    return seen
