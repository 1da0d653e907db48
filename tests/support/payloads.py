"""Payload fixtures: the knowledge-base samples and the variants seen in the wild."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.thousandeyes.samples import SAMPLES, load_sample

VARIANTS_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "variants"

__all__ = ["SAMPLES", "load_custom", "load_sample", "load_shape", "load_variant",
           "numbered_alert_event", "recent_clear", "recent_trigger", "sample_event",
           "with_changes"]


def load_variant(name: str) -> dict[str, Any]:
    return json.loads((VARIANTS_DIR / f"{name}.json").read_text(encoding="utf-8"))


def with_changes(payload: dict[str, Any], *, event_id: str | None = None,
                 agent_name: str | None = None, **alert_fields: Any) -> dict[str, Any]:
    """``payload`` itself, changed and returned: a new ``eventId``, the ``alert`` fields
    given by their payload names (``alertId=``, ``ruleName=``...), its first agent renamed
    (``agentName`` and ``locationName``, as a real agent's location reads)."""
    if event_id is not None:
        payload["eventId"] = event_id
    payload["alert"].update(alert_fields)
    if agent_name is not None:
        payload["alert"]["agents"][0]["agentName"] = agent_name
        payload["alert"]["agents"][0]["locationName"] = agent_name
    return payload


def sample_event(name: str, *, event_id: str | None = None, agent_name: str | None = None,
                 **alert_fields: Any) -> dict[str, Any]:
    """The knowledge-base sample ``name`` with the changes ``with_changes`` makes."""
    return with_changes(load_sample(name), event_id=event_id, agent_name=agent_name,
                        **alert_fields)


def numbered_alert_event(transition: str, number: int, tag: str, test_name: str, *,
                         rule: str | None = None, **alert_fields: Any) -> dict[str, Any]:
    """The sample ``"trigger"`` or ``"clear"`` as alert ``number`` of a run tagged ``tag``:
    its own eventId, and an alertId its trigger and clear share; ``rule`` names its rule
    (the sample's when not given), ``alert_fields`` change more."""
    payload = sample_event(transition, event_id=f"{tag}-{transition}-{number}",
                           alertId=f"{tag}-{number}", testName=test_name, **alert_fields)
    if rule:
        payload["alert"]["ruleName"] = rule
    return payload


def _thousandeyes_date(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def recent_trigger(*, started_ago: timedelta = timedelta(minutes=5)) -> dict[str, Any]:
    """The sample trigger, started ``started_ago`` (five minutes), so durations read like
    real ones."""
    started = datetime.now(UTC) - started_ago
    return sample_event("trigger", dateStart=_thousandeyes_date(started))


def recent_clear() -> dict[str, Any]:
    """The sample clear, ended now."""
    return sample_event("clear", dateEnd=_thousandeyes_date(datetime.now(UTC)))


SHAPES_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "shapes"


def load_shape(name: str) -> dict[str, Any]:
    """A payload in a shape real accounts send today (``tests/fixtures/shapes/``)."""
    return json.loads((SHAPES_DIR / f"{name}.json").read_text(encoding="utf-8"))


CUSTOM_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "custom"


def load_custom(name: str) -> Any:
    """A custom webhook's body (``tests/fixtures/custom/``)."""
    return json.loads((CUSTOM_DIR / f"{name}.json").read_text(encoding="utf-8"))


def custom_without_agents(kind: str, alert_id: str) -> dict[str, Any]:
    """A Generic-preset custom webhook body for ``alert_id`` that lists no agent (an empty
    ``details[]``): what enrichment from the ThousandEyes API fills in."""
    body = load_custom("generic_trigger" if kind == "trigger" else "generic_clear")
    body["alert"]["id"] = alert_id
    body["alert"]["details"] = []
    body["id"] = f"{alert_id}-{kind}"
    return body
