"""Ask ThousandEyes for the agents' metrics a thin webhook left out, before rendering.

Runs in delivery, first thing in an alert's trigger or clear job, never in the webhook:
the webhook is answered as soon as its event is stored. The call has a short deadline
(:data:`ENRICH_TIMEOUT`) and no retry: on any failure the message is posted without the
metrics, and that state of the alert is not asked again (bot.store.enrichment).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from thousandeyes_sdk.alerts.models import AlertDetail

from bot.db.database import Database
from bot.db.retry import with_db_retries
from bot.store.enrichment import enrichment_wanted, record_enrichment
from bot.thousandeyes.api_client import ThousandEyesApi
from bot.thousandeyes.api_errors import API_ERRORS, classify

log = logging.getLogger(__name__)

# (connect, read) seconds: the alert's post waits for this at worst.
ENRICH_TIMEOUT: tuple[float, float] = (2.0, 3.0)


def enrich_alert(database: Database, api: ThousandEyesApi | None, alert_id: int,
                 now: datetime) -> bool:
    """Fill in the alert's agents' metrics from ThousandEyes if its webhook had none;
    True when something was stored (the caller reloads the alert)."""
    if api is None:
        return False
    wanted = enrichment_wanted(database, alert_id)
    if wanted is None:
        return False
    agents: list[dict[str, Any]] | None
    try:
        detail = api.alerts.get_alert(wanted.alert_key, aid=api.aid,
                                      _request_timeout=ENRICH_TIMEOUT)
        agents = agents_of(detail)
    except API_ERRORS as error:
        log.warning("alert %d: no agent metrics from ThousandEyes (%s); posting without",
                    alert_id, classify(error).summary())
        agents = None
    return with_db_retries(lambda: record_enrichment(database, alert_id, wanted, agents, now),
                           f"recording alert {alert_id}'s metrics") and bool(agents)


def agents_of(detail: AlertDetail) -> list[dict[str, Any]]:
    """``details[]`` as the classic webhook's ``agents``: each source's name, id, state
    and its metrics at start and end."""
    agents = []
    for source in detail.details or []:
        agent: dict[str, Any] = {
            "agentId": source.id, "agentName": source.name,
            "metricsAtStart": source.start.metrics if source.start else None,
            "metricsAtEnd": source.end.metrics if source.end else None,
            "active": None if source.state is None else source.state.value == "trigger",
        }
        agents.append({key: value for key, value in agent.items() if value not in (None, "")})
    return agents
