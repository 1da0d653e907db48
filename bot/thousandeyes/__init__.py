"""Everything about ThousandEyes' side of the contract, in one package.

What arrives and what it means: classic webhook events (:mod:`.events`), custom
webhooks (:mod:`.custom`), dates and their zones (:mod:`.dates`), and the sample
payloads of the knowledge-base article (:mod:`.samples`). Nothing here knows about
Slack, the database or the configuration; callers pass in what parsing needs.

The names below are the package's interface; other modules import them from here.
"""

from bot.thousandeyes.events import (
    AgentAlert,
    Alert,
    AlertAgent,
    AlertKind,
    Event,
    EventType,
    PayloadError,
    TestAlert,
    Transition,
    id_text,
    json_type,
    parse_agent_alert,
    parse_event,
    parse_test_alert,
    utcnow,
)

__all__ = [
    "AgentAlert",
    "Alert",
    "AlertAgent",
    "AlertKind",
    "Event",
    "EventType",
    "PayloadError",
    "TestAlert",
    "Transition",
    "id_text",
    "json_type",
    "parse_agent_alert",
    "parse_event",
    "parse_test_alert",
    "utcnow",
]
