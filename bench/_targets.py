"""The servers bench/ingest.py compares the project with (not a benchmark itself).

- :class:`FloorServer`: ``bench/floor_app.py`` under gunicorn's threaded worker, one
  SQLite INSERT per request: the least a durable webhook can cost.
- :class:`SampleServer`: ThousandEyes' own sample (``thousandeyes/simple-webhook-server``,
  Node + Express), which forwards each event to a Slack incoming webhook and answers
  with that webhook's status. It is not in this repository; ``--sample-server PATH``
  names a checkout with its ``node_modules`` installed. Its target URL is hard-coded, so
  a copy of its script with the incoming webhook of :class:`FakeSlackServer` runs from
  scratch.
- :class:`FakeSlackServer`: one fake Slack in its own process, for the service's Web API
  calls and the sample server's incoming webhook alike (``bench/_fake_slack.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests
from _common import REPO, children_of, cpu_seconds_of, free_port

from tests.support.processes import stop_process

BENCH = Path(__file__).resolve().parent
SAMPLE_TOKEN = "OJdqYg87SOcax0baFpf5WInifeErRryPA9qLjiugadBgenwi3UDBj8od21UM5to"


class Spawned:
    """A server subprocess in its own session, its output in a log file."""

    path = "/webhooks/thousandeyes"
    # The project and the floor answer {"status": "accepted"}; the sample server "OK".
    accepted_marker: bytes | None = b'"accepted"'

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_path: Path,
                 port: int, cwd: Path) -> None:
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "w")
        self.log_path = log_path
        self.process = subprocess.Popen(args, env=env, cwd=cwd, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def health_path(self) -> str:
        return "/healthz"

    def wait_healthy(self, timeout: float = 60) -> "Spawned":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited early:\n{self.log_path.read_text()}")
            try:
                if requests.get(self.url + self.health_path(), timeout=1).status_code == 200:
                    return self
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name} not healthy after {timeout}s")

    def accepted(self, status: int, data: bytes) -> bool:
        return status == 200 and (self.accepted_marker is None or self.accepted_marker in data)

    def cpu_seconds(self) -> float:
        """User + system CPU of the process and its children so far."""
        return cpu_seconds_of([self.process.pid, *children_of(self.process.pid)])

    def stop(self) -> None:
        stop_process(self.process)
        self._log.close()


class FloorServer(Spawned):
    def __init__(self, work: Path, threads: int = 8) -> None:
        port = free_port()
        env = {**os.environ, "FLOOR_DATABASE": str(work / "floor.sqlite3"),
               "PYTHONUNBUFFERED": "1"}
        super().__init__("floor", [
            sys.executable, "-m", "gunicorn", "--worker-class", "gthread",
            "--threads", str(threads), "--workers", "1", "--keep-alive", "5",
            "--bind", f"127.0.0.1:{port}", "--chdir", str(BENCH), "floor_app:app",
        ], env, work / "logs" / "floor.log", port, work)


class FakeSlackServer(Spawned):
    """``bench/_fake_slack.py``: the Web API for the service, incoming webhooks for the
    sample server; one process, no limits."""

    def __init__(self, work: Path, channels: list[str], tls_certificate: Path | None = None) -> None:
        port = free_port()
        env = dict(os.environ)
        if tls_certificate is not None:  # HTTPS, as Slack; clients trust it by SSL_CERT_FILE
            env["FAKE_SLACK_TLS"] = str(tls_certificate)
        super().__init__("fake-slack", [sys.executable, str(BENCH / "_fake_slack.py"), str(port),
                                        *channels],
                         env, work / "logs" / "fake-slack.log", port, work)
        if tls_certificate is not None:
            self.url = f"https://127.0.0.1:{port}"
        self.api_url = f"{self.url}/api/"
        self.hook_url = f"{self.url}/services/T0/B0/bench"

    def health_path(self) -> str:
        return "/"


class SampleServer(Spawned):
    accepted_marker = None  # it answers with the incoming webhook's status and "OK"

    def __init__(self, checkout: Path, work: Path, target_hook: str) -> None:
        script = (checkout / "webhook-server.js").read_text()
        marker = "https://hooks.slack.com/services/<my_target>"
        if marker not in script:
            raise SystemExit(f"{checkout}/webhook-server.js has no TARGET_HOOK {marker!r}")
        copy = work / "sample-server" / "webhook-server.js"
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(script.replace(marker, target_hook))
        port = free_port()
        env = {**os.environ, "PORT": str(port), "NODE_PATH": str(checkout / "node_modules")}
        super().__init__("sample-server", ["node", str(copy)], env,
                         work / "logs" / "sample-server.log", port, copy.parent)
        self.path = f"/webhook-server/test/{SAMPLE_TOKEN}"

    def health_path(self) -> str:
        return "/"


def sample_server_available(path: str | None) -> Path | None:
    """The checkout if it can run (script and node_modules present), else None."""
    if not path:
        return None
    checkout = Path(path)
    if (checkout / "webhook-server.js").is_file() and (checkout / "node_modules").is_dir():
        return checkout
    print(f"# sample server skipped: {checkout} has no webhook-server.js with node_modules"
          " (git clone thousandeyes/simple-webhook-server there and run npm install)")
    return None


__all__ = ["FloorServer", "FakeSlackServer", "SampleServer", "sample_server_available",
           "REPO"]
