"""``python -m bot send-sample``: post a ThousandEyes sample to a running service.

By default each sample is a fresh event dated now (``bot.thousandeyes.samples``), so the
README's check works every time, not only on an empty database. A clear ends the last
trigger of its kind sent from here: which one is remembered in a small state file,
``data/send-sample.json`` beside the default SQLite database (relative to the working
directory, like it), because the service may be elsewhere and its database not ours to
read. ``as_is`` sends the article's payload untouched.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.thousandeyes.samples import CLEARS, fresh_sample, load_sample

log = logging.getLogger(__name__)

STATE_FILE = Path("data") / "send-sample.json"


def send_sample(
    name: str,
    url: str,
    *,
    token: str | None = None,
    basic: str | None = None,
    as_is: bool = False,
    state_file: Path = STATE_FILE,
    timeout: float = 10.0,
) -> tuple[int, str]:
    """POST the sample and return (status, body). Raises ``NoTriggerToClear`` for a
    fresh clear when no trigger of its kind was sent from here."""
    if as_is:
        return _post(load_sample(name), url, token, basic, timeout)
    state = _read_state(state_file)
    payload = fresh_sample(name, datetime.now(UTC), time.time_ns() // 1_000_000,
                           trigger=state.get(CLEARS.get(name, "")))
    status, body = _post(payload, url, token, basic, timeout)
    if status == 200 and name in CLEARS.values():
        state[name] = payload
        _write_state(state_file, state)
    return status, body


def no_trigger_message(name: str) -> str:
    """What to do when a fresh clear has no trigger of its kind to end."""
    trigger = CLEARS[name]
    return (f"no {trigger} sample was sent from this folder yet ({STATE_FILE} remembers the"
            f" last one): send one with 'python -m bot send-sample {trigger}' first, or the"
            f" article's {name} with --as-is")


def _post(payload: dict[str, Any], url: str, token: str | None, basic: str | None,
          timeout: float) -> tuple[int, str]:
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


def _read_state(path: Path) -> dict[str, Any]:
    """The last fresh triggers sent, by sample name; nothing if the file is missing or
    unreadable (a clear then says there is no trigger to clear)."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        log.warning("ignoring %s, which cannot be read (%s)", path, error)
        return {}
    return state if isinstance(state, dict) else {}


def _write_state(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(state, indent=2), encoding="utf-8")
    temporary.replace(path)
