"""The five sample payloads of ThousandEyes' webhook knowledge-base article."""

from __future__ import annotations

import json
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
