"""Payload fixtures: the knowledge-base samples and the variants seen in the wild."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.thousandeyes.samples import SAMPLES, load_sample

VARIANTS_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "variants"

__all__ = ["SAMPLES", "load_custom", "load_sample", "load_shape", "load_variant",
           "numbered_alert_event"]


def load_variant(name: str) -> dict[str, Any]:
    return json.loads((VARIANTS_DIR / f"{name}.json").read_text(encoding="utf-8"))


def numbered_alert_event(transition: str, number: int, tag: str, test_name: str) -> dict[str, Any]:
    """The sample ``"trigger"`` or ``"clear"`` as alert ``number`` of a run tagged ``tag``:
    its own eventId, and an alertId its trigger and clear share."""
    payload = load_sample(transition)
    payload["eventId"] = f"{tag}-{transition}-{number}"
    payload["alert"]["alertId"] = f"{tag}-{number}"
    payload["alert"]["testName"] = test_name
    return payload


SHAPES_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "shapes"


def load_shape(name: str) -> dict[str, Any]:
    """A payload in a shape real accounts send today (``tests/fixtures/shapes/``)."""
    return json.loads((SHAPES_DIR / f"{name}.json").read_text(encoding="utf-8"))


CUSTOM_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "custom"


def load_custom(name: str) -> Any:
    """A custom webhook's body (``tests/fixtures/custom/``)."""
    return json.loads((CUSTOM_DIR / f"{name}.json").read_text(encoding="utf-8"))
