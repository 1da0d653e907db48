"""Payload fixtures: the knowledge-base samples and the variants seen in the wild."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.samples import SAMPLES, load_sample

VARIANTS_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "variants"

__all__ = ["SAMPLES", "load_sample", "load_variant"]


def load_variant(name: str) -> dict[str, Any]:
    return json.loads((VARIANTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
