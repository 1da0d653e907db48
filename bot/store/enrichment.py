"""Agents' metrics from the ThousandEyes API, kept with an alert whose webhook had none.

A custom webhook may list no agent metrics (its template left ``details`` out, or they
came empty); ThousandEyes' ``get_alert`` has them. Delivery asks once per state of the
alert (trigger: start metrics; clear: start and end) and stores what it learnt in the
alert's stored payload, as the classic webhook's ``agents`` would carry them, so every
later render shows them without asking again (bot.delivery.enrichment). The marker
``apiDetails`` (an object, so never read as a user's note) records that it was asked,
whatever the answer: a failure is not asked again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select

from bot.db.database import Database
from bot.db.models import AlertRow
from bot.db.prepared import Prepared
from bot.thousandeyes import AlertKind

MARKER = "apiDetails"


@dataclass(frozen=True)
class EnrichmentWanted:
    alert_key: str  # ThousandEyes' alert id
    state: str  # the alert's state when asked (AlertState)


def enrichment_wanted(db: Database, alert_id: int) -> EnrichmentWanted | None:
    """What to ask ThousandEyes for this alert; None when its webhook named agent
    metrics, it was asked in this state already, or its id is not a v7 id (a legacy
    integer alertId, which ``get_alert`` does not know)."""
    # Asked before every trigger and clear is posted: a read-only transaction, which on
    # SQLite takes no writer turn.
    with db.raw_transaction(read_only=True) as transaction:
        row = transaction.first(_ASKED, {"alert_id": alert_id})
    if row is None or row.kind != AlertKind.TEST.value or not isinstance(row.data, dict):
        return None
    if _has_metrics(row.data.get("agents")) or _has_metrics(row.data.get("monitors")):
        return None
    asked = row.data.get(MARKER)
    if isinstance(asked, dict) and asked.get("state") == row.state:
        return None
    if row.alert_key.isdigit():
        return None
    return EnrichmentWanted(row.alert_key, row.state)


_ALERTS = AlertRow.__table__
_ASKED = Prepared(select(_ALERTS.c.kind, _ALERTS.c.data, _ALERTS.c.state, _ALERTS.c.alert_key)
                  .where(_ALERTS.c.id == bindparam("alert_id")))


def record_enrichment(db: Database, alert_id: int, wanted: EnrichmentWanted,
                      agents: list[dict[str, Any]] | None, now: datetime) -> bool:
    """Keep ``agents`` (None: the API failed) with the alert, unless it changed state
    meanwhile (then the job of its new state asks again). True when stored."""
    with db.session() as session:
        row = session.scalar(select(AlertRow).where(AlertRow.id == alert_id).with_for_update())
        if row is None or row.state != wanted.state or not isinstance(row.data, dict):
            return False
        data = dict(row.data)
        data[MARKER] = {"state": wanted.state, "at": now.isoformat(),
                        "found": agents is not None}
        if agents:
            data["agents"] = agents
        row.data = data
        return True


def _has_metrics(sources: Any) -> bool:
    return isinstance(sources, list) and any(
        isinstance(s, dict) and (s.get("metricsAtStart") or s.get("metricsAtEnd"))
        for s in sources)
