"""Clients that send slowly cannot hold the threads of ``python -m bot serve``.

Real sockets on loopback: connections that send their headers and stall their body, and
connections that stall in the middle of their headers, are held open while a valid
webhook is sent; it must be answered as if they were not there. The serving process also
applies each route's body limit while it reads, before a thread sees the request.
"""

from __future__ import annotations

import json
import socket
import time

import pytest
import requests

from tests.conftest import WEBHOOK_TOKEN
from tests.faults.helpers import Serve, trigger
from tests.support.processes import free_port
from tests.support.raw_http import chunked, request_head, send

STALLED_BODIES = 24
STALLED_HEADERS = 16
AUTH = {"Authorization": f"Bearer {WEBHOOK_TOKEN}", "Content-Type": "application/json"}


@pytest.fixture
def serve(tmp_path, database_url):
    served = Serve(tmp_path, free_port(), "serve", DATABASE_URL=database_url,
                   WEBHOOK_TOKEN=WEBHOOK_TOKEN, DELIVERY_THREADS="0", WEB_THREADS="8",
                   WEBHOOK_MAX_BODY_BYTES="4096").wait_healthy()
    yield served
    served.stop()


def stall(port: int, head: bytes, count: int) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(head)
        sockets.append(sock)
    return sockets


def test_stalled_bodies_and_headers_do_not_delay_a_valid_webhook(serve):
    port = int(serve.url.rsplit(":", 1)[1])
    body_head = request_head("POST", "/webhooks/thousandeyes",
                             dict(AUTH, **{"Content-Length": "2000"})) + b'{"eventType": '
    header_head = b"POST /webhooks/thousandeyes HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
    held = stall(port, body_head, STALLED_BODIES) + stall(port, header_head, STALLED_HEADERS)
    try:
        # The server answers connections in the order they came: once a request made after
        # the stalled ones is answered, it has taken every stalled connection in.
        assert requests.get(serve.url + "/healthz", timeout=10).status_code == 200
        started = time.monotonic()
        answer = requests.post(serve.url + "/webhooks/thousandeyes", timeout=10,
                               data=json.dumps(trigger(1, "slow")), headers=AUTH)
        elapsed = time.monotonic() - started
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "accepted"
        health = requests.get(serve.url + "/healthz", timeout=10)
        assert health.status_code == 200
    finally:
        for sock in held:
            sock.close()
    # Not a timing assertion on speed, only that nothing waited for the stalled ones.
    assert elapsed < 5, f"{elapsed:.1f}s"


def test_a_stalled_body_is_dropped_after_the_read_timeout(serve):
    port = int(serve.url.rsplit(":", 1)[1])
    [sock] = stall(port, request_head("POST", "/webhooks/thousandeyes",
                                      dict(AUTH, **{"Content-Length": "100"})) + b"{", 1)
    try:
        sock.settimeout(30)
        answer = sock.recv(65536)
        # Answered 408 (or just closed) rather than held for ever.
        assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer[:100]
    finally:
        sock.close()


def test_serve_refuses_bodies_over_the_limit_while_reading(serve):
    port = int(serve.url.rsplit(":", 1)[1])
    declared = send(port, "POST", "/slack/events",
                    {"Content-Length": str(100 * 1024 * 1024)}, [b"payload=x"], timeout=5)
    assert declared.status == 413 and json.loads(declared.body)["message"]
    valid = json.dumps(trigger(2, "chunk")).encode()
    over = valid + b" " * (4096 - len(valid)) + b" " * 100  # a valid event in the first 4 KiB
    answer = send(port, "POST", "/webhooks/thousandeyes",
                  dict(AUTH, **{"Transfer-Encoding": "chunked"}), chunked([over]))
    assert answer.status == 413 and "larger than 4096" in json.loads(answer.body)["message"]
    endless = send(port, "POST", "/oauth/token", {"Transfer-Encoding": "chunked"},
                   chunked(b"a" * 65536 for _ in range(1600)), timeout=10)
    assert endless.status == 413 and endless.sent < 20 * 1024 * 1024
