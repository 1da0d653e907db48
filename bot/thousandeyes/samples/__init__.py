"""The five sample payloads of ThousandEyes' webhook knowledge-base article, as they
are and made fresh (dated now, with new ids) for a user trying the service."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_DIR = Path(__file__).resolve().parent

SAMPLES = {
    "test": "webhook_test.json",
    "trigger": "alert_notification_trigger.json",
    "clear": "alert_notification_clear.json",
    "agent-trigger": "agent_alert_notification_trigger.json",
    "agent-clear": "agent_alert_notification_clear.json",
}


def load_sample(name: str) -> dict[str, Any]:
    """Return a fresh copy of the sample called ``name`` (a key of :data:`SAMPLES`)."""
    sample: dict[str, Any] = json.loads((_DIR / SAMPLES[name]).read_text(encoding="utf-8"))
    return sample


# The clear of each trigger sample: what ``fresh_sample`` pairs.
CLEARS = {"clear": "trigger", "agent-clear": "agent-trigger"}
_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


class NoTriggerToClear(LookupError):
    """A fresh clear was asked for, and no fresh trigger of its kind was sent before."""


def fresh_sample(
    name: str, now: datetime, serial: int, trigger: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The sample ``name`` as a new event of today: what a user trying the service
    expects to see (an alert dated now, whose clear closes it).

    The article's samples are dated 2014 and 2016 and reuse their ids, so sent as they
    are they read "3699d after trigger" and, once stored, answer "duplicate". Here a
    trigger gets ``serial`` as its alert id and its dates move to ``now`` (the agents
    keep their offsets from the alert's start); a clear is built from ``trigger`` (the
    fresh trigger it ends: same alert id, agent and start) and ends ``now``. Dates carry
    their zone (``*Zoned``, UTC), so the service reads them right whatever its
    ``THOUSANDEYES_TIMEZONE``.
    """
    payload = load_sample(name)
    if name == "test":
        payload["eventId"] = str(serial)
    elif name == "trigger":
        _fresh_alert_trigger(payload["alert"], now, serial)
    elif name == "agent-trigger":
        agent = payload["agentAlert"]
        agent.update(agentNotificationId=serial, dateStart=int(now.timestamp()))
    elif trigger is None:
        raise NoTriggerToClear(name)
    elif name == "clear":
        _fresh_alert_clear(payload["alert"], trigger["alert"], now)
    else:
        _fresh_agent_clear(payload["agentAlert"], trigger["agentAlert"], now)
    if name != "test":
        payload["eventId"] = f"{payload['eventId'].split('-')[0]}-{serial}"
    return payload


def _fresh_alert_trigger(alert: dict[str, Any], now: datetime, serial: int) -> None:
    start = _read_utc(alert["dateStart"])
    alert["alertId"] = serial
    for item in (alert, *alert["agents"]):
        _set_date(item, "dateStart", now + (_read_utc(item["dateStart"]) - start))
        item["permalink"] = item["permalink"].replace("alertId=35541", f"alertId={serial}")


def _fresh_alert_clear(alert: dict[str, Any], trigger: Mapping[str, Any], now: datetime) -> None:
    alert["alertId"] = trigger["alertId"]
    alert["permalink"] = trigger["permalink"]
    for item, started in ((alert, trigger), *zip(alert["agents"], trigger["agents"], strict=False)):
        item["dateStart"], item["dateStartZoned"] = started["dateStart"], started["dateStartZoned"]
        _set_date(item, "dateEnd", now)
        if item is not alert:
            item["permalink"] = started["permalink"]


def _fresh_agent_clear(agent: dict[str, Any], trigger: Mapping[str, Any], now: datetime) -> None:
    for key in ("agentNotificationId", "agentId", "hostname", "agentName", "ipAddress",
                "dateStart", "metricsAtStart"):
        agent[key] = trigger[key]
    agent["dateEnd"] = max(int(now.timestamp()), int(trigger["dateStart"]))


def _read_utc(text: str) -> datetime:
    return datetime.strptime(text, _DATE_FORMAT).replace(tzinfo=UTC)


def _set_date(item: dict[str, Any], name: str, moment: datetime) -> None:
    moment = moment.astimezone(UTC)
    item[name] = moment.strftime(_DATE_FORMAT)
    item[f"{name}Zoned"] = moment.strftime(_DATE_FORMAT) + " UTC"
