"""Requests through ``python -m bot serve`` reach the app as they were sent: query
strings, duplicated headers, chunked bodies, non-ASCII paths, HEAD, the client address.
(``bot.web.buffering`` builds the WSGI environ itself.)"""

from __future__ import annotations

import json
import socket

import pytest
import requests

from tests.conftest import WEBHOOK_TOKEN
from tests.faults.helpers import Serve, trigger
from tests.support.processes import free_port
from tests.support.raw_http import chunked, read_answer, request_head, send

AUTH = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from tests.support.databases import fresh_database_url

    tmp = tmp_path_factory.mktemp("serve-requests")
    with fresh_database_url(tmp) as url:
        serve = Serve(tmp, free_port(), "serve", DATABASE_URL=url, WEBHOOK_TOKEN=WEBHOOK_TOKEN,
                      DELIVERY_THREADS="0", WEBHOOK_ALLOWED_SOURCES="127.0.0.0/8").wait_healthy()
        yield serve
        serve.stop()


def test_query_string_reaches_the_app(served):
    bad = requests.post(served.url + "/webhooks/thousandeyes?channel=no%20spaces", headers=AUTH,
                        data=json.dumps(trigger(1, "q")), timeout=10)
    assert bad.status_code == 400 and "no spaces" in bad.json()["message"]
    good = requests.post(served.url + "/webhooks/thousandeyes?channel=alerts-net", headers=AUTH,
                         data=json.dumps(trigger(2, "q")), timeout=10)
    assert good.status_code == 200


def test_chunked_body_and_client_address(served):
    # WEBHOOK_ALLOWED_SOURCES=127.0.0.0/8: the peer address reached the app.
    port = int(served.url.rsplit(":", 1)[1])
    body = json.dumps(trigger(3, "c")).encode()
    answer = send(port, "POST", "/webhooks/thousandeyes",
                  dict(AUTH, **{"Transfer-Encoding": "chunked", "Content-Type": "application/json"}),
                  chunked([body[:10], body[10:]]))
    assert answer.status == 200 and json.loads(answer.body)["status"] == "accepted"


def test_non_ascii_path_head_and_duplicate_headers(served):
    missing = requests.post(served.url + "/webhooks/thousandeyes/%C3%A9t%C3%A9", headers=AUTH,
                            data="{}", timeout=10)
    assert missing.status_code == 404 and missing.json()["message"]
    not_utf8 = requests.post(served.url + "/webhooks/thousandeyes/%ff%fe?x=%ff", headers=AUTH,
                             data="{}", timeout=10)
    assert not_utf8.status_code == 404 and not_utf8.json()["message"]
    head = requests.head(served.url + "/healthz", timeout=10)
    assert head.status_code == 200 and head.content == b""
    port = int(served.url.rsplit(":", 1)[1])
    # Two Authorization headers are joined with a comma (RFC 9110): not the valid token.
    head = request_head("POST", "/webhooks/thousandeyes", {"Content-Length": "2"})
    doubled = head.replace(b"\r\n\r\n", (
        f"\r\nAuthorization: Bearer {WEBHOOK_TOKEN}" * 2 + "\r\n\r\n").encode())
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(doubled + b"{}")
        assert read_answer(sock).status == 401
