"""Closed-loop load from ``wrk`` (not a benchmark itself).

``wrk`` is a C load generator (Debian package ``wrk``): it keeps ``connections``
keep-alive connections busy from a few threads and costs far less CPU per request than a
Python client, which matters when the client shares 2 cores with the servers.
``bench/unique_events.lua`` makes every request a new event of a new alert.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from _common import encode, unique_trigger

SCRIPT = Path(__file__).resolve().parent / "unique_events.lua"
# unique_trigger's ids and test name for alert 0 of the run tagged "@ID@"; the script
# puts a new id in place of every "@ID@".
_MARKED = {b"@ID@-trigger-0": b"@ID@-t", b"@ID@-0": b"@ID@", b"bench test 0": b"bench test @ID@"}


def trigger_template() -> bytes:
    """The sample trigger with "@ID@" where the event id, alert id and test name go."""
    body = encode(unique_trigger("@ID@", 0))
    for old, new in _MARKED.items():
        body = body.replace(old, new)
    return body


def require_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install -y wrk)")
    return found


@dataclass
class WrkResult:
    requests: int
    seconds: float
    refused: int  # answers other than 2xx or 3xx (counted in ``requests``)
    errors: int  # connect, read and write errors and timeouts (not answers)
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def accepted(self) -> int:
        return self.requests - self.refused

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0


def run_wrk(base_url: str, paths: list[str], body_file: Path, tag: str, connections: int,
            seconds: float, headers: dict[str, str], threads: int = 2) -> WrkResult:
    """``connections`` clients posting as fast as they are answered for ``seconds``."""
    command = [require_wrk(), "-t", str(max(1, min(threads, connections))),
               "-c", str(connections), "-d", f"{seconds:g}s", "--timeout", "30s",
               "-s", str(SCRIPT)]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command += [base_url, "--", str(body_file), tag, ",".join(paths)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    line = next((line for line in done.stdout.splitlines() if line.startswith("WRK_JSON ")),
                None)
    if line is None:
        raise RuntimeError(f"wrk printed no figures (exit {done.returncode}):\n"
                           f"{done.stdout}\n{done.stderr}")
    figures = json.loads(line.split(" ", 1)[1])
    errors = sum(figures[key] for key in ("connect", "read", "write", "timeout"))
    return WrkResult(requests=figures["requests"], seconds=figures["duration_us"] / 1e6,
                     refused=figures["non_2xx"], errors=errors, p50_ms=figures["p50_us"] / 1000,
                     p90_ms=figures["p90_us"] / 1000, p99_ms=figures["p99_us"] / 1000,
                     max_ms=figures["max_us"] / 1000)
