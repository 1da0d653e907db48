"""CPU and time per Slack Web API call: the gateway over kept-alive connections against
slack-sdk's plain ``WebClient`` (urllib: a new connection for every call).

    python bench/slack_calls.py [--calls 2000] [--rounds 3] [--threads 1] [--tls]

``chat.postMessage`` with a parent-sized message to ``bench/_fake_slack.py`` (its own
process, no limits), from ``--threads`` threads of this process, the two clients in turn
round by round. CPU is this process's (``time.process_time``): the client's side of each
call, what a delivery thread pays for it beside claiming, rendering and recording.
``--tls``: the fake serves HTTPS (a certificate of its own, trusted by ``SSL_CERT_FILE``),
as Slack does, so a new connection costs a TLS handshake too.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import header, median, scratch  # noqa: E402
from _targets import FakeSlackServer  # noqa: E402
from slack_sdk import WebClient  # noqa: E402

from bot.slack.gateway import WebApiGateway  # noqa: E402
from tests.support.tls import loopback_certificate  # noqa: E402

CHANNEL = "C0BENCH"
BLOCKS = [{"type": "header", "text": {"type": "plain_text", "text": "Page Load alert"}},
          {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 1500}}]


def plain_post(url: str) -> Callable[[str], object]:
    client = WebClient(token="xoxb-bench", base_url=url, timeout=10)
    return lambda text: client.chat_postMessage(channel=CHANNEL, text=text, blocks=BLOCKS)


def gateway_post(url: str) -> Callable[[str], object]:
    gateway = WebApiGateway("xoxb-bench", url, 10.0)
    return lambda text: gateway.post_message(CHANNEL, text, BLOCKS)


def measure(post: Callable[[str], object], calls: int, threads: int) -> tuple[float, float]:
    """(ms of CPU, ms of wall time) per call."""
    each = calls // threads

    def run() -> None:
        for number in range(each):
            post(f"alert {number}")

    workers = [threading.Thread(target=run) for _ in range(threads)]
    cpu, wall = time.process_time(), time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    done = each * threads
    return ((time.process_time() - cpu) / done * 1e3, (time.monotonic() - wall) / done * 1e3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tls", action="store_true", help="HTTPS, as Slack")
    args = parser.parse_args()
    header("bench/slack_calls.py: CPU per Slack call, kept-alive gateway against urllib")
    print(f"# {args.calls} chat.postMessage calls a round from {args.threads} thread(s)"
          f" over {'HTTPS' if args.tls else 'HTTP'}", flush=True)
    figures: dict[str, list[tuple[float, float]]] = {"urllib": [], "kept-alive": []}
    with scratch("bench-slack-calls") as work:
        certificate = None
        if args.tls:
            certificate = loopback_certificate(work)
            os.environ["SSL_CERT_FILE"] = os.environ["REQUESTS_CA_BUNDLE"] = str(certificate)
        slack = FakeSlackServer(work, [CHANNEL], certificate)
        try:
            slack.wait_healthy()
            clients = {"urllib": plain_post(slack.api_url), "kept-alive": gateway_post(slack.api_url)}
            for post in clients.values():
                post("warm up")  # imports, the first connection
            for number in range(1, args.rounds + 1):
                for name, post in clients.items():
                    cpu, wall = measure(post, args.calls, args.threads)
                    figures[name].append((cpu, wall))
                    print(f"  round {number} {name}: {cpu:.3f} ms CPU, {wall:.2f} ms wall per call",
                          flush=True)
        finally:
            slack.stop()
    for name, rows in figures.items():
        print(f"# {name}: median {median([cpu for cpu, _ in rows]):.3f} ms CPU,"
              f" {median([wall for _, wall in rows]):.2f} ms wall per call")
    return 0


if __name__ == "__main__":
    sys.exit(main())
