"""Run ``python -m bot …`` as a real process, as a user would."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import requests

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bot_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "WEBHOOK_", "DATABASE_URL", "TEMPLATES_DIR", "PORT",
                                "THOUSANDEYES_", "STALE_AFTER", "PROMETHEUS_", "REMINDER_",
                                "FLAP_WINDOW", "METRICS_", "LOG_FORMAT", "DELIVERY_STUCK",
                                "STORM_", "RETENTION"))}
    # Storm roll-ups off unless a test asks for them (it passes STORM_ROLLUP="on").
    env["STORM_ROLLUP"] = "off"
    env["PYTHONPATH"] = str(REPO)  # a benchmark may point it at another revision's checkout
    # Tests send the samples' one rule and test again and again as new alerts: without
    # this they would thread as flapping (FLAP_WINDOW), which tests of it turn on.
    env["FLAP_WINDOW"] = "off"
    # Delivery in threads of the web worker, whatever the database: a serve that starts a
    # second interpreter for every test made the suite twice as slow. Its own tests
    # (tests/process/test_delivery_child.py) start it.
    env["DELIVERY_PROCESS"] = "inline"
    env.update(overrides)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_bot(*args: str, env: dict[str, str], cwd: Path | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], env=env, cwd=cwd or REPO,
                          capture_output=True, text=True, timeout=timeout)


class BotProcess:
    """``python -m bot serve`` (or ``worker``) in the background, logs to a file."""

    def __init__(self, *args: str, env: dict[str, str], log_path: Path,
                 cwd: Path | None = None) -> None:
        self.log_path = log_path
        self._log: IO[str] = open(log_path, "w")  # noqa: SIM115 (open while the process runs)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", *args], env=env, cwd=cwd or REPO,
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_healthy(self, url: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"process exited early:\n{self.log()}")
            try:
                if requests.get(url + "/healthz", timeout=1).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                # gunicorn listens before its worker has loaded the app: a request may
                # wait in the listen queue longer than this poll's timeout.
                pass
            time.sleep(0.1)
        raise AssertionError(f"not healthy after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        if not self._log.closed:  # still running; a stopped process's log is complete
            self._log.flush()
        return self.log_path.read_text()

    def stop(self) -> int:
        stop_process(self.process)
        self._log.close()
        return self.process.returncode

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(5)
        self._log.close()


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it has not exited after 20 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def children_of(pid: int) -> list[int]:
    """The child processes of ``pid`` (gunicorn's workers), from /proc."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def descendants_of(pid: int) -> list[int]:
    """Every process below ``pid``: gunicorn's workers and their delivery processes."""
    found: list[int] = []
    below = [pid]
    while below:
        children = children_of(below.pop())
        found += children
        below += children
    return found


def running(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def command_of(pid: int) -> list[str]:
    """``pid``'s command line, as ``ps`` shows it ([] once it has gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().split("\0")[:-1]
    except OSError:
        return []
