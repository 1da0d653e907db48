"""One fake Slack for every target of a benchmark (not a benchmark itself).

The test suite's ``FakeSlack`` (the Web API as documented) plus Slack's incoming webhooks
(``POST /services/T…/B…/…`` answered ``200 ok`` as text, as Slack does), so the service
(``chat.postMessage`` and friends) and ThousandEyes' sample server (an incoming webhook)
post to the same server. No rate limits: every call succeeds at once.

    python bench/_fake_slack.py PORT CHANNEL...   (bench/_targets.py starts it)

With ``FAKE_SLACK_TLS=CERT.pem`` (a certificate and its key, ``tests/support/tls.py``) it
serves HTTPS, as Slack does.

Run as its own process so its threads never share a GIL with the load client.
"""

from __future__ import annotations

import os
import ssl
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from werkzeug.wrappers import Response  # noqa: E402

from tests.support.fake_slack import FakeSlack  # noqa: E402
from tests.support.tls import server_context  # noqa: E402


class BenchSlack(FakeSlack):
    """``FakeSlack`` without limits, that also takes incoming webhooks."""

    def __init__(self, port: int = 0, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(post_rate_limit=None, updates_per_minute=None, tls=tls)
        if port:
            self._port = port
            self._server.server_close()
            self._serve()
        self.incoming = 0

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO", "").startswith("/services/"):
            stream = environ["wsgi.input"]
            stream.read(int(environ.get("CONTENT_LENGTH") or 0))
            with self._lock:
                self.incoming += 1
            return Response("ok", mimetype="text/plain")(environ, start_response)
        if environ.get("PATH_INFO") == "/":
            return Response("fake slack")(environ, start_response)
        return super()._wsgi(environ, start_response)

    def forget_calls(self) -> None:
        """Drop the calls recorded (the messages stay: chat.update looks them up)."""
        with self._lock:
            self.calls.clear()


def main() -> int:
    certificate = os.environ.get("FAKE_SLACK_TLS")
    slack = BenchSlack(int(sys.argv[1]), server_context(Path(certificate)) if certificate else None)
    for channel in sys.argv[2:]:
        slack.add_channel(channel, channel.lower())
    slack.start()
    print(f"fake slack on {slack.url}", flush=True)
    try:
        while True:
            slack._thread.join(5.0)
            # Calls are recorded for tests to read; nothing reads them here.
            slack.forget_calls()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
