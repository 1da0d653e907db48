"""ThousandEyes events and alerts as typed values (what :mod:`.events` parses into)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# (key, value) pairs: custom static keys a user added to the webhook (see :mod:`.notes`).
Notes = tuple[tuple[str, str], ...]
# (field, text as sent) for each date that was sent but could not be placed in time.
UnplacedDates = tuple[tuple[str, str], ...]


class PayloadError(ValueError):
    """The body is JSON but not a usable ThousandEyes event; the message says why."""


class EventType(str, enum.Enum):
    WEBHOOK_TEST = "WEBHOOK_TEST"
    ALERT_NOTIFICATION_TRIGGER = "ALERT_NOTIFICATION_TRIGGER"
    ALERT_NOTIFICATION_CLEAR = "ALERT_NOTIFICATION_CLEAR"
    AGENT_ALERT_NOTIFICATION_TRIGGER = "AGENT_ALERT_NOTIFICATION_TRIGGER"
    AGENT_ALERT_NOTIFICATION_CLEAR = "AGENT_ALERT_NOTIFICATION_CLEAR"


class AlertKind(str, enum.Enum):
    """What an alert is about, and which id family its key belongs to.

    As a *kind of alert*: TEST for an alert on a test, AGENT for one on an agent or a
    device (its own health). As a *key family* (``key_kind``, the stored alert's
    ``kind``): TEST for ``alertId``, which ThousandEyes makes unique per generated alert
    of any kind, AGENT for the ``agentNotificationId`` of AGENT_ALERT_NOTIFICATION_*.
    """

    TEST = "test"
    AGENT = "agent"


class Transition(str, enum.Enum):
    """What an event does to its alert."""

    TRIGGER = "trigger"
    CLEAR = "clear"
    NONE = "none"  # WEBHOOK_TEST and unknown event types carry no alert


@dataclass(frozen=True)
class AlertAgent:
    """One agent's view of a test alert, or one BGP monitor's (``alert.monitors[]``):
    a monitor's network (its AS) stands where an agent's location does."""

    agent_id: str | None
    agent_name: str
    location_name: str
    date_start: datetime | None
    date_end: datetime | None
    active: bool | None
    metrics_at_start: str
    metrics_at_end: str
    permalink: str
    # ``active: 2``: the rule was modified or removed while this agent was alerting.
    rule_changed: bool = False
    prefix: str = ""  # BGP monitors: the prefix this monitor saw


@dataclass(frozen=True)
class TestAlert:
    """A test alert (``alert`` object of ALERT_NOTIFICATION_*)."""

    __test__ = False  # not a pytest test class, despite the name

    alert_id: str
    rule_id: str | None
    rule_name: str
    rule_expression: str
    test_id: str | None
    test_name: str
    alert_type: str
    severity: str | None  # normalised upper case: INFO, MINOR, MAJOR, CRITICAL, ...
    date_start: datetime | None
    date_end: datetime | None
    violation_count: int | None
    permalink: str
    test_labels: tuple[str, ...]
    test_targets_description: tuple[str, ...]
    agents: tuple[AlertAgent, ...]
    rule_changed: bool = False  # ``active: 2`` on the alert or an agent
    notes: Notes = ()
    unplaced_dates: UnplacedDates = ()

    @property
    def key(self) -> str:
        return self.alert_id

    @property
    def key_kind(self) -> AlertKind:
        return AlertKind.TEST


@dataclass(frozen=True)
class AgentAlert:
    """An alert on an agent or a device itself (offline, clock offset, interface errors).

    Two shapes arrive: the ``agentAlert`` object of AGENT_ALERT_NOTIFICATION_*, keyed by
    ``agentNotificationId``, and since October 2021 ALERT_NOTIFICATION_* whose ``alert``
    has ``type: "Agent"`` (or a device type) and the agent's fields at alert level,
    keyed by ``alertId`` like every alert of that event type.
    """

    notification_id: str | None
    agent_rule_id: str | None
    agent_id: str | None  # the device id for device alerts
    agent_name: str  # the device name for device alerts
    hostname: str
    ip_address: str
    active: bool | None
    rule_name: str
    rule_expression: str
    date_start: datetime | None
    date_end: datetime | None
    metrics_at_start: str
    metrics_at_end: str
    alert_id: str | None = None  # ALERT_NOTIFICATION_* only
    subject: str = "agent"  # "agent" or "device"
    alert_type: str = ""
    severity: str | None = None
    permalink: str = ""
    interface_name: str = ""  # device alerts on an interface
    rule_changed: bool = False  # ``active: 2``
    notes: Notes = ()
    unplaced_dates: UnplacedDates = ()

    @property
    def key(self) -> str:
        if self.alert_id:
            return self.alert_id
        if self.notification_id:
            return self.notification_id
        return f"{self.agent_rule_id}:{self.agent_id}"

    @property
    def key_kind(self) -> AlertKind:
        return AlertKind.TEST if self.alert_id else AlertKind.AGENT


Alert = TestAlert | AgentAlert


@dataclass(frozen=True)
class Event:
    """One webhook delivery from ThousandEyes."""

    event_type: str  # as sent; may be a type this service does not know
    event_id: str
    transition: Transition
    alert: Alert | None
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def known(self) -> bool:
        return self.event_type in EventType.__members__

    @property
    def alert_kind(self) -> AlertKind | None:
        """What the alert is about (which messages show it)."""
        return alert_kind_of(self.alert) if self.alert is not None else None

    @property
    def key_kind(self) -> AlertKind | None:
        """The id family of ``alert.key``: with the key, what finds the stored alert."""
        return self.alert.key_kind if self.alert is not None else None


def alert_kind_of(alert: Alert) -> AlertKind:
    return AlertKind.AGENT if isinstance(alert, AgentAlert) else AlertKind.TEST
