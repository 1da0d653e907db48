"""Custom static keys: what a user added to the classic webhook, shown as a note.

ThousandEyes lets a webhook carry static key/value pairs; they arrive inside ``alert``
beside ThousandEyes' own keys (``"text": "Call the branch desk"``). A key is the user's
when it is not one of ThousandEyes' (:data:`THOUSANDEYES_KEYS`: every key of the
knowledge-base samples, of the shapes real accounts send, and of the API's alert object)
and its value is text or a number. Objects, arrays and booleans are never notes: a field
ThousandEyes adds later is far more likely to be one of those than a sentence, and
showing it as a note would only be noise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.thousandeyes.fields import text_value
from bot.thousandeyes.models import Notes

MAX_NOTES = 10
MAX_KEY_LENGTH = 60
MAX_VALUE_LENGTH = 1000

THOUSANDEYES_KEYS = frozenset({
    # alert (test alerts)
    "alertId", "ruleId", "ruleName", "ruleExpression", "testId", "testName", "type",
    "severity", "active", "dateStart", "dateEnd", "dateStartZoned", "dateEndZoned",
    "violationCount", "permalink", "apiLinks", "agents", "monitors", "details",
    "testLabels", "testTargetsDescription", "metricsAtStart", "metricsAtEnd",
    "alertType", "alertState", "alertRuleId", "alertSeverity", "startDate", "endDate",
    "accountGroupName", "accountGroupId", "aid", "ruleAid", "links", "_links", "meta",
    # agent and device fields at alert level, and their duplicated objects
    "agentId", "agentName", "hostname", "ipAddress", "agentRuleId", "agentNotificationId",
    "agentAlert", "deviceAlert", "deviceId", "deviceName", "interfaceName", "interface",
    "managementIp", "managementIpAddress", "locationName", "countryId", "prefix",
    "networkPrefix", "monitorId", "monitorName",
})


def custom_notes(obj: Mapping[str, Any]) -> Notes:
    """The user's own keys of an alert object, in the order sent, as (key, text)."""
    found = []
    for key, value in obj.items():
        if key in THOUSANDEYES_KEYS or isinstance(value, (bool, dict, list)):
            continue
        shown = text_value(value)
        name = text_value(key)
        if shown and name:
            found.append((name[:MAX_KEY_LENGTH], shown[:MAX_VALUE_LENGTH]))
        if len(found) == MAX_NOTES:
            break
    return tuple(found)
