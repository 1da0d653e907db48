"""``python -m bot db prune``: RETENTION's pruning now, saying what it removed.

The delivery workers prune on their own, a little at a time; this is for an operator who
wants the space back now (or to see what RETENTION would remove). It runs to the end,
batch by batch like the workers, beside a running service.
"""

from __future__ import annotations

from bot.clock import utcnow
from bot.config import Config
from bot.db.database import Database
from bot.store.pruning import Retention, prune


def prune_command(config: Config, database: Database) -> int:
    if config.retention is None:
        print("RETENTION is off: nothing pruned, everything is kept")
        return 0
    retention = Retention(config.retention, config.flap_window, config.storm_quiet)
    pruned = prune(database, utcnow(), retention)
    counts = ", ".join(f"{table} {count}" for table, count in pruned.by_table().items())
    print(f"pruned {pruned.total} rows older than {_days(config)}: {counts}")
    return 0


def _days(config: Config) -> str:
    assert config.retention is not None
    days, seconds = config.retention.days, config.retention.seconds
    return f"{days}d" if not seconds else f"{config.retention}"
