"""How the service stores the secrets it hands out (route and OAuth tokens, client
secrets, codes): as SHA-256 hex. They are 256-bit random values, so a fast hash is
enough to make a leaked database useless, and lookups stay simple equality."""

from __future__ import annotations

import hashlib


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()
