"""Alerts as the ThousandEyes API v7 lists them, and the webhook events they stand for.

The sync (``bot.delivery.api_sync``) stores what the API tells it the way a webhook would
have: an alert no webhook brought becomes an ALERT_NOTIFICATION_TRIGGER, a clear that
never came an ALERT_NOTIFICATION_CLEAR. The bodies are built here, in the classic shape,
and read by the same parser as a webhook's, so delivery and templates see no difference.
Their ``eventId`` is derived from the alert, so the same finding stored twice is one
event.

Matching: a v7 alert id is a UUID, and current accounts send that id as the webhook's
``alertId``; older webhooks carry an integer id, so such an alert is recognised by its
rule, its test and its start (:func:`subject_of`, :data:`START_TOLERANCE`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from thousandeyes_sdk.alerts.models import Alert as SdkAlert

from bot.thousandeyes.events import parse_event
from bot.thousandeyes.models import Event, EventType
from bot.thousandeyes.options import ParseOptions

UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# How far a webhook's dateStart (whole seconds, maybe local time read in a guessed zone)
# may be from the API's startDate for an integer-id alert to be the same alert.
START_TOLERANCE = timedelta(minutes=2)
EVENT_ID_PREFIX = "api-sync"


@dataclass(frozen=True, slots=True)
class ApiAlert:
    """The fields of one listed alert that the sync uses."""

    alert_id: str
    rule_id: str | None
    test_id: str | None  # None for alerts no test raised (outages)
    alert_type: str
    severity: str | None  # upper case, as webhooks send it
    started_at: datetime | None
    ended_at: datetime | None
    app_link: str
    violation_count: int | None
    suppressed: bool  # by a suppression window: ThousandEyes sent no webhook

    @property
    def subject(self) -> str | None:
        return subject_of(self.rule_id, self.test_id)


def from_sdk(alert: SdkAlert) -> ApiAlert | None:
    """An :class:`ApiAlert` from the SDK's model; None for one without an id."""
    alert_id = alert.id or alert.alert_id
    if not alert_id:
        return None
    links = alert.links
    test_href = links.test.href if links is not None and links.test is not None else None
    app_link = links.app_link.href if links is not None and links.app_link is not None else ""
    rule_id = alert.alert_rule_id or (str(alert.rule_id) if alert.rule_id is not None else None)
    severity = alert.alert_severity.value if alert.alert_severity is not None else alert.severity
    return ApiAlert(
        alert_id=alert_id,
        rule_id=rule_id,
        test_id=test_href.rstrip("/").rsplit("/", 1)[-1] if test_href else None,
        alert_type=alert.alert_type.value if alert.alert_type is not None else "",
        severity=severity.upper() if severity else None,
        started_at=_utc(alert.start_date),
        ended_at=_utc(alert.end_date),
        app_link=app_link or alert.permalink or "",
        violation_count=alert.violation_count,
        suppressed=bool(alert.suppressed),
    )


def subject_of(rule_id: str | None, test_id: str | None) -> str | None:
    """What ``bot.store.adoption.subject_key`` makes of a test alert with these ids."""
    if not rule_id or not test_id:
        return None
    return f"rule:{rule_id}|test:{test_id}"


def is_uuid(alert_key: str) -> bool:
    return bool(UUID.match(alert_key))


def same_start(stored: datetime | None, listed: datetime | None) -> bool:
    return stored is not None and listed is not None and \
        abs(stored - listed) <= START_TOLERANCE


def found_trigger(alert: ApiAlert, rule_name: str, options: ParseOptions) -> tuple[Event, str]:
    """The trigger webhook the alert would have sent, parsed; and its body as text."""
    body: dict[str, Any] = {
        "eventId": f"{EVENT_ID_PREFIX}-{alert.alert_id}-trigger",
        "eventType": EventType.ALERT_NOTIFICATION_TRIGGER.value,
        "alert": {
            "alertId": alert.alert_id,
            "ruleId": alert.rule_id,
            "ruleName": rule_name,
            "testId": alert.test_id,
            "type": alert.alert_type,
            "severity": alert.severity,
            "dateStart": _iso(alert.started_at),
            "violationCount": alert.violation_count,
            "permalink": alert.app_link,
            "agents": [],
        },
    }
    body["alert"] = {k: v for k, v in body["alert"].items() if v is not None}
    return _parsed(body, options)


def confirmed_clear(stored: Mapping[str, Any], alert_key: str, ended_at: datetime | None,
                    now: datetime, options: ParseOptions) -> tuple[Event, str]:
    """The clear webhook of a stored alert (its payload as stored, ending at
    ``ended_at``), parsed; and its body as text. Raises ``PayloadError`` when the stored
    payload no longer parses."""
    alert = dict(stored)
    alert["dateEnd"] = _iso(ended_at or now)
    body = {"eventId": f"{EVENT_ID_PREFIX}-{alert_key}-clear",
            "eventType": EventType.ALERT_NOTIFICATION_CLEAR.value, "alert": alert}
    return _parsed(body, options)


def _parsed(body: dict[str, Any], options: ParseOptions) -> tuple[Event, str]:
    return parse_event(body, options), json.dumps(body, ensure_ascii=False, sort_keys=True)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
