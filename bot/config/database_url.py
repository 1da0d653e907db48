"""The database URL as the service uses it and as it may be shown."""

from __future__ import annotations

import re


def normalise_database_url(url: str) -> str:
    """Accept Heroku's ``postgres://`` and pick the psycopg 3 driver for PostgreSQL."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def redact_database_url(url: str) -> str:
    """The URL with its password replaced, safe to log."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)
