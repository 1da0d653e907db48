"""The database URL as the service uses it and as it may be shown."""

from __future__ import annotations

import re


def normalise_database_url(url: str) -> str:
    """Accept Heroku's ``postgres://`` and pick the psycopg 3 driver for PostgreSQL."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def as_written(url: str) -> str:
    """The URL as a user writes it: without the driver ``normalise_database_url`` chose
    (Heroku's ``postgres://`` comes back as ``postgresql://``)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def redact_database_url(url: str) -> str:
    """The URL with its password replaced, safe to log."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)
