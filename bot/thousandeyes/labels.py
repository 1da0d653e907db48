"""Readable names for alert types, in every spelling ThousandEyes uses for them.

The classic webhook writes ``"type": "Page Load"``; the API and custom webhooks write
``page-load``, ``end-to-end-server``, ``web-transactions``. Each known type gets one
label, what the alert is about (a test, an agent, a device) and who saw it (agents, or
BGP monitors). A type we do not know keeps the name it was sent with and reads like a
test alert, with no wording that would guess at its meaning.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

DEFAULT_LABEL = "ThousandEyes alert"
MAX_LABEL_LENGTH = 100


@dataclass(frozen=True)
class AlertTypeLabel:
    label: str
    subject: str = "test"  # what the alert is about: "test", "agent" or "device"
    sources: str = "Agents"  # who saw it, as a heading ("" when nobody but itself)
    known: bool = True


_BY_KEY: dict[str, AlertTypeLabel] = {}


def _add(label: str, *spellings: str, subject: str = "test", sources: str = "Agents") -> None:
    entry = AlertTypeLabel(label, subject, sources)
    for spelling in (label, *spellings):
        _BY_KEY[_key(spelling)] = entry


def _key(text: str) -> str:
    # "DNS+ Server" and "DNS Server" differ only by the plus: it stays in the key.
    return re.sub(r"[^a-z0-9+]", "", text.lower())


_add("Page Load", "page-load")
_add("HTTP Server", "http-server", "http")
_add("Network", "network-layer")
_add("Network (end-to-end)", "End-to-End (Server)", "end-to-end-server", "end-to-end",
     "Network End-to-End")
_add("Network (agent to agent)", "End-to-End (Agent)", "end-to-end-agent", "agent-to-agent")
_add("Network (path trace)", "Path Trace", "path-trace", "network-path-trace")
_add("BGP", "bgp-route", sources="BGP monitors")
_add("DNS+ Domain", "dns-plus-domain", "dnsp-domain")
_add("DNS+ Server", "dns-plus-server", "dnsp-server")
_add("DNS Server", "dns-server")
_add("DNS Trace", "dns-trace")
_add("DNSSEC", "dns-dnssec")
_add("Voice", "RTP Stream", "rtp-stream", "voice-call")
_add("SIP Server", "sip-server", "sip")
_add("Transaction", "Transactions", "Web Transaction", "Web Transactions", "web-transactions",
     "transactions")
_add("FTP", "FTP Server", "ftp-server")
_add("Agent", "agent-alert", "Enterprise Agent", "Cloud Agent", subject="agent", sources="")
_add("Device", "Device Interface", "device-interface", "Device Layer", "device-device",
     subject="device", sources="")
_add("API", "api")
_add("Network outage", "network-outage", "Internet Insights")
_add("Application outage", "application-outage")
# Endpoint Experience: tests that endpoint agents (people's laptops) run, and what their
# browsers saw of real sessions, per agent or per application.
_add("Endpoint network (server)", "endpoint-network-server", sources="Endpoint agents")
_add("Endpoint HTTP server", "endpoint-http-server", sources="Endpoint agents")
_add("Endpoint path trace", "endpoint-path-trace", sources="Endpoint agents")
_add("Endpoint browser sessions (agent)", "endpoint-browser-sessions-agent",
     sources="Endpoint agents")
_add("Endpoint browser sessions (application)", "endpoint-browser-sessions-application",
     sources="Endpoint agents")


def alert_type_label(sent: Any) -> AlertTypeLabel:
    """The label for ``alert.type`` as sent (any spelling); a neutral one if unknown."""
    return _label(sent.strip() if isinstance(sent, str) else "")


@functools.lru_cache(maxsize=256)  # an account sends a handful of spellings, again and again
def _label(text: str) -> AlertTypeLabel:
    if not text:
        return AlertTypeLabel(DEFAULT_LABEL, known=False)
    known = _BY_KEY.get(_key(text))
    if known is not None:
        return known
    return AlertTypeLabel(text[:MAX_LABEL_LENGTH], known=False)
