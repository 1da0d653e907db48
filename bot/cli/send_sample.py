"""``python -m bot send-sample``: post a knowledge-base sample to a running service."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request

from bot.thousandeyes.samples import load_sample


def send_sample(
    name: str,
    url: str,
    *,
    token: str | None = None,
    basic: str | None = None,
    unique: bool = False,
    timeout: float = 10.0,
) -> tuple[int, str]:
    """POST the sample and return (status, body). ``unique`` gives it a fresh eventId,
    so the same sample can be sent again without being answered as a duplicate."""
    payload = load_sample(name)
    if unique:
        payload["eventId"] = f"{payload['eventId']}-{time.time_ns()}"
    headers = {"Content-Type": "application/json", "User-Agent": "thousandeyes-bot-send-sample"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    elif basic:
        headers["Authorization"] = "Basic " + base64.b64encode(basic.encode()).decode()
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode("utf-8"), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")
