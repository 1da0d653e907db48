"""The webhooks ThousandEyes sends for an alert of the fake API's account
(tests/support/thousandeyes_account.py): the same ids, rule, test and dates, in the
classic shape of the knowledge-base samples, so a test can have a webhook arrive, or
not, for an alert the API lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.thousandeyes_account import Account, Alert, agent


def webhook(alert: Alert, transition: str, *, alert_id: str | int | None = None) -> dict[str, Any]:
    """The trigger or clear webhook of ``alert``; ``alert_id``: an older account's
    integer id instead of the v7 UUID."""
    ident = alert.alert_id if alert_id is None else alert_id
    body: dict[str, Any] = {
        "eventType": f"ALERT_NOTIFICATION_{transition.upper()}",
        "eventId": f"{ident}-{transition}",
        "alert": {
            "alertId": ident,
            "ruleId": int(alert.rule.rule_id) if alert.rule else None,
            "ruleName": alert.rule.name if alert.rule else "",
            "ruleExpression": alert.rule.expression if alert.rule else "",
            "testId": int(alert.test.test_id) if alert.test else None,
            "testName": alert.test.name if alert.test else "",
            "type": "HTTP Server",
            "severity": alert.severity.upper(),
            "dateStart": _classic(alert.started_at),
            "violationCount": len(alert.sources),
            "permalink": f"https://app.thousandeyes.com/alerts/list?alertId={ident}",
            "agents": [{"agentId": int(s.source_id), "agentName": s.name,
                        "dateStart": _classic(alert.started_at), "active": 1,
                        "metricsAtStart": s.metrics_at_start,
                        "metricsAtEnd": s.metrics_at_end or ""} for s in alert.sources],
        },
    }
    if transition == "clear":
        body["alert"]["dateEnd"] = _classic(alert.cleared_at or datetime.now(UTC))
    return body


def http_alert(account: Account, test_name: str = "api.example.com", *,
               rule_name: str = "Default HTTP Alert Rule", minutes_ago: float = 5,
               rule: Any = None) -> Alert:
    """An HTTP server alert that started ``minutes_ago``, with one agent."""
    if rule is None:
        test = account.add_test(test_name, "http-server")
        rule = account.add_rule(rule_name, "http-server", tests=[test])
    else:
        test = account.add_test(test_name, "http-server")
        rule.test_ids.append(test.test_id)
    started = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).replace(microsecond=0)
    return account.add_alert(rule, test, [agent("Frankfurt, Germany", "Response Code: 502")],
                             started_at=started)


def _classic(moment: datetime) -> str:
    """How a classic webhook writes a date: local time (THOUSANDEYES_TIMEZONE, UTC here)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
