"""Everything about ThousandEyes' side of the contract, in one package.

What arrives and what it means, one job per module:

- :mod:`.models`: events and alerts as typed values;
- :mod:`.events`: the classic webhook's payloads (test, agent and device alerts);
- :mod:`.custom`: custom webhooks (Handlebars templates), read as classic events;
- :mod:`.fields`: reading one field, tolerant of how real senders drift;
- :mod:`.numbers`: numbers no sender sends (NaN, Infinity, ids past 64 bits), refused;
- :mod:`.dates` and :mod:`.zones`: dates, zone abbreviations, THOUSANDEYES_TIMEZONE;
- :mod:`.options`: what parsing needs that a payload does not say (:class:`ParseOptions`);
- :mod:`.labels`: readable alert types; :mod:`.notes`: a user's custom static keys;
- :mod:`.samples`: the knowledge-base article's sample payloads.

Nothing here knows about Slack, the database or the configuration. The names below are
the package's interface; other modules import them from here.
"""

from bot.thousandeyes.events import (
    parse_agent_alert,
    parse_alert_object,
    parse_event,
    parse_stored_alert,
    parse_test_alert,
)
from bot.thousandeyes.fields import id_text, json_type
from bot.thousandeyes.models import (
    AgentAlert,
    Alert,
    AlertAgent,
    AlertKind,
    Event,
    EventType,
    PayloadError,
    TestAlert,
    Transition,
    alert_kind_of,
)
from bot.thousandeyes.numbers import check_numbers
from bot.thousandeyes.options import DEFAULT_OPTIONS, ParseOptions

__all__ = [
    "DEFAULT_OPTIONS",
    "AgentAlert",
    "Alert",
    "AlertAgent",
    "AlertKind",
    "Event",
    "EventType",
    "ParseOptions",
    "PayloadError",
    "TestAlert",
    "Transition",
    "alert_kind_of",
    "check_numbers",
    "id_text",
    "json_type",
    "parse_agent_alert",
    "parse_alert_object",
    "parse_event",
    "parse_stored_alert",
    "parse_test_alert",
]
