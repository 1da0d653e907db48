"""What is wrong with a ``DATABASE_URL``, in one line a newcomer can act on.

Checked before anything connects, and without SQLAlchemy, so that ``serve``'s master
process (which never holds an engine) can refuse a wrong URL itself: the scheme and
driver (SQLite, or PostgreSQL through psycopg 3), and for SQLite that the file's folder
exists. Only the default ``./data/`` folder is created; a typo such as
``sqlite:////nonexistent/dir/x.sqlite3`` must not silently make a new tree.
Reachability and credentials are what connecting tells (``bot.cli.main.open_database``).
"""

from __future__ import annotations

import re
from pathlib import Path

from bot.config import redact_database_url

ACCEPTED_FORMS = ("sqlite:///relative/file.sqlite3, sqlite:////absolute/file.sqlite3"
                  " or postgresql://user:password@host:5432/name")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
# The drivers installed with the service (requirements.txt); anything else would fail
# with an ImportError deep in SQLAlchemy.
_DRIVERS = {"sqlite": ("", "pysqlite"), "postgresql": ("", "psycopg"),
            "postgres": ("",)}


class DatabaseUrlProblem(ValueError):
    """The URL cannot work; the message names ``DATABASE_URL`` and what to write."""


def check_database_url(url: str, default_url: str) -> None:
    """Raise :class:`DatabaseUrlProblem` when ``url`` cannot be a database we can use."""
    shown = redact_database_url(url)[:120]
    match = _SCHEME.match(url)
    if match is None:
        raise DatabaseUrlProblem(
            f"DATABASE_URL={shown!r} is not a database URL; use {ACCEPTED_FORMS}")
    backend, _, driver = match.group(1).lower().partition("+")
    if backend not in _DRIVERS:
        raise DatabaseUrlProblem(
            f"DATABASE_URL: {backend!r} databases are not supported; use {ACCEPTED_FORMS}")
    if driver not in _DRIVERS[backend]:
        raise DatabaseUrlProblem(
            f"DATABASE_URL: the driver {driver!r} is not installed; write {backend}://…"
            " without a driver")
    if backend == "sqlite":  # PostgreSQL without a host is libpq's local socket: fine
        _check_sqlite_folder(url, default_url)


def _check_sqlite_folder(url: str, default_url: str) -> None:
    path = url.split("://", 1)[1]
    if not path.startswith("/"):
        raise DatabaseUrlProblem(
            f"DATABASE_URL={url[:120]!r} is not a SQLite URL; use {ACCEPTED_FORMS}")
    database = path[1:].split("?", 1)[0]
    if not database or database == ":memory:":
        return
    folder = Path(database).parent
    if url == default_url or folder.is_dir():
        return  # the default ./data/ is created on first start
    raise DatabaseUrlProblem(
        f"DATABASE_URL: the folder {str(folder)[:120]!r} of the SQLite file does not exist;"
        " create it or point DATABASE_URL at an existing folder")
