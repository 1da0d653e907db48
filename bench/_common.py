"""Shared plumbing for the benchmark scripts (not a benchmark itself).

The scripts run as ``python bench/<name>.py`` from the repository root, so this module
puts the root on ``sys.path`` and then reuses the test support code: ``BotProcess`` to
run ``python -m bot serve`` as users do, ``FakeSlack`` for the Slack Web API, the fresh
SQLite file / PostgreSQL schema per run, and the signed Slack requests.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.databases import fresh_database_url  # noqa: E402
from tests.support.payloads import numbered_alert_event  # noqa: E402
from tests.support.processes import (  # noqa: E402
    BotProcess,
    bot_env,
    children_of,
    descendants_of,
    free_port,
)

# The fake Slack's werkzeug server would print a line per call.
logging.getLogger("werkzeug").setLevel(logging.ERROR)
# SIGTERM (timeout, kill) unwinds like Ctrl-C, so the serve processes we started are
# stopped and the PostgreSQL schemas we made are dropped.
signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
WEBHOOK_TOKEN = "bench-webhook-token-0123456789"
AUTH_HEADER = f"Bearer {WEBHOOK_TOKEN}"


# --- databases -----------------------------------------------------------------------


@contextlib.contextmanager
def fresh_database(kind: str, workdir: Path, pg_url: str = DEFAULT_PG_URL) -> Iterator[str]:
    """A fresh SQLite file, or a fresh schema in PostgreSQL (dropped afterwards).

    Reuses ``tests.support.databases.fresh_database_url``, which reads
    ``TEST_DATABASE_URL``; we set it only for the duration of the call.
    """
    saved = os.environ.get("TEST_DATABASE_URL")
    if kind == "postgres":
        os.environ["TEST_DATABASE_URL"] = pg_url
    else:
        os.environ.pop("TEST_DATABASE_URL", None)
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        with fresh_database_url(workdir) as url:
            if saved is None:
                os.environ.pop("TEST_DATABASE_URL", None)
            else:
                os.environ["TEST_DATABASE_URL"] = saved
            yield url
    finally:
        if saved is None:
            os.environ.pop("TEST_DATABASE_URL", None)
        else:
            os.environ["TEST_DATABASE_URL"] = saved


def open_jobs(url: str) -> int:
    """Pending or running outbox jobs in the service's database (read with our own engine)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(
                "SELECT count(*) FROM outbox_jobs WHERE status IN ('pending', 'running')"
            )).scalar_one())
    finally:
        engine.dispose()


def wait_drained(url: str, timeout: float = 300.0) -> float:
    """Wait until the outbox is empty; returns the seconds waited (inf on timeout)."""
    began = time.monotonic()
    while open_jobs(url):
        if time.monotonic() - began > timeout:
            return float("inf")
        time.sleep(0.5)
    return time.monotonic() - began


def backends(choice: str) -> list[str]:
    return ["sqlite", "postgres"] if choice == "both" else [choice]


# --- the service as users run it -------------------------------------------------------


# What tests.support.processes.bot_env sets for the tests, beside the service's defaults.
_TEST_ONLY_SETTINGS = {"STORM_ROLLUP", "FLAP_WINDOW", "DELIVERY_PROCESS"}


class Serve:
    """``python -m bot serve --host 127.0.0.1 --port P`` with the given environment."""

    path = "/webhooks/thousandeyes"  # where bench/ingest.py posts

    def accepted(self, status: int, data: bytes) -> bool:
        return status == 200 and b'"accepted"' in data

    def __init__(self, workdir: Path, name: str, shipped: bool = False, **env: str) -> None:
        """``shipped``: every setting not in ``env`` at its default, as the README starts
        the service (the tests' environment otherwise turns storm roll-ups and flapping
        off)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.name = name
        workdir.mkdir(parents=True, exist_ok=True)
        environment = bot_env(**env)
        if shipped:
            for setting in _TEST_ONLY_SETTINGS - env.keys():
                environment.pop(setting, None)
        # cwd is a scratch directory so a developer's .env in the repo is not read.
        self.process = BotProcess(
            "serve", "--host", "127.0.0.1", "--port", str(self.port),
            env=environment, log_path=workdir / f"{name}.log", cwd=workdir,
        )

    def wait_healthy(self, timeout: float = 60) -> "Serve":
        self.process.wait_healthy(self.url, timeout)
        # gunicorn answers /healthz from the worker; wait until the worker is listed too.
        deadline = time.monotonic() + timeout
        while not self.worker_pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    @property
    def pid(self) -> int:
        return self.process.process.pid

    def worker_pids(self) -> list[int]:
        """gunicorn's web workers."""
        return children_of(self.pid)

    def descendant_pids(self) -> list[int]:
        """Every process below the master: its workers and whatever they started (a
        delivery process of their own, for one)."""
        return descendants_of(self.pid)

    def rss_kib(self) -> dict[int, int]:
        """VmRSS of the master and every process below it, in KiB."""
        return {pid: rss_of(pid) for pid in [self.pid, *self.descendant_pids()]}

    def cpu_seconds(self) -> float:
        """User + system CPU of the master and every process below it so far (a delivery
        process restarted meanwhile takes its CPU with it)."""
        return cpu_seconds_of([self.pid, *self.descendant_pids()])

    def log(self) -> str:
        return self.process.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.process.stop()


def cpu_seconds_of(pids: list[int]) -> float:
    """User + system CPU of these processes so far (a process gone counts nothing)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


class MachineCpu:
    """The whole machine's CPU over an interval, from /proc/stat: how much of its cores
    were busy (every process, PostgreSQL's and the load client's included)."""

    def __init__(self) -> None:
        self._start = self._read()

    @staticmethod
    def _read() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle and iowait
        return sum(fields) - idle, sum(fields)

    def busy(self) -> float:
        """Busy fraction of all cores since this was made (1.0: every core busy)."""
        busy, total = self._read()
        spent = total - self._start[1]
        return (busy - self._start[0]) / spent if spent else 0.0


def children_cpu_seconds() -> float:
    """User + system CPU of this process's children that have been waited for (wrk's)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def smaps_of(pid: int) -> dict[str, int]:
    """Rss, Pss and Private (USS) in KiB from /proc/<pid>/smaps_rollup (empty if gone)."""
    values: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                values[parts[0][:-1]] = int(parts[1])
    except OSError:
        return {}
    return {"rss": values.get("Rss", 0), "pss": values.get("Pss", 0),
            "uss": values.get("Private_Clean", 0) + values.get("Private_Dirty", 0)}


def rss_of(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


# --- payloads --------------------------------------------------------------------------


def unique_trigger(tag: str, number: int) -> dict[str, Any]:
    """The sample trigger as its own alert: a unique eventId and alertId."""
    return numbered_alert_event("trigger", number, tag, f"bench test {number}")


def unique_clear(tag: str, number: int) -> dict[str, Any]:
    return numbered_alert_event("clear", number, tag, f"bench test {number}")


# --- HTTP client -------------------------------------------------------------------------


class KeepAliveClient:
    """One persistent HTTP/1.1 connection (reconnects if the server closes it)."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        host_port = base_url.split("://", 1)[1].rstrip("/")
        self.host, port = host_port.split(":")
        self.port = int(port)
        self.timeout = timeout
        self.connection: http.client.HTTPConnection | None = None

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        for attempt in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port,
                                                             timeout=self.timeout)
                self.connection.connect()
                self.connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                self.connection.request("POST", path, body=body, headers=headers)
                response = self.connection.getresponse()
                data = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.close()
                return response.status, data
            except (http.client.RemoteDisconnected, ConnectionResetError,
                    BrokenPipeError, http.client.CannotSendRequest):
                self.close()
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def webhook_headers() -> dict[str, str]:
    return {"Authorization": AUTH_HEADER, "Content-Type": "application/json"}


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


# --- statistics ---------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine_note() -> str:
    cores = os.cpu_count()
    try:
        model = next(line.split(":", 1)[1].strip()
                     for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        model = "?"
    load = os.getloadavg()
    return (f"{cores} cores ({model}), shared and noisy; load average at start "
            f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def git_revision() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                              capture_output=True, text=True, timeout=5).stdout.strip()
        # --no-optional-locks: a read-only look that never refreshes the index.
        dirty = subprocess.run(["git", "--no-optional-locks", "status", "--porcelain",
                                "--untracked-files=no", "bot"],
                               cwd=REPO, capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    return head + (" + uncommitted changes in bot/" if dirty.strip() else "")


def header(title: str) -> None:
    print(f"# {title}")
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, python {sys.version.split()[0]}, "
          f"revision {git_revision()}")
    print(f"# machine: {machine_note()}")
    sys.stdout.flush()


@contextlib.contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=prefix) as directory:
        yield Path(directory)


@contextlib.contextmanager
def checkout_of(revision: str, work: Path) -> Iterator[Path]:
    """A detached worktree of ``revision``; its path as PYTHONPATH runs that revision's bot."""
    path = work / f"checkout-{revision.replace('/', '_')}"
    subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(path), revision],
                   cwd=REPO, check=True)
    try:
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=REPO, check=False)



def baseline_checkout(revision: str | None, work: Path) -> contextlib.AbstractContextManager[Path | None]:
    """``checkout_of(revision)`` for ``--baseline REV``; None when no revision was asked for."""
    if not revision:
        return contextlib.nullcontext(None)
    return checkout_of(revision, work)
