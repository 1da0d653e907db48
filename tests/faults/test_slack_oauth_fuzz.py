"""Property-based fuzzing of ``/slack/events`` and ``/oauth/*``, and their memory.

The contract for anyone who is not Slack or an administrator: never a 5xx. Headers,
bodies, query strings and cookies are chosen by hypothesis; a share of the Slack requests
is signed with the right secret, so what reaches Bolt is fuzzed too. The same examples
run every time; ``FUZZ_RANDOM=1`` draws new ones (as in test_webhook_fuzz).

Memory: unsigned 48 MiB bodies, declared and chunked, sent to ``python -m bot serve``
leave its resident memory where it was (the issue measured +600 MB for 100 MB).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from hypothesis import event, given, strategies as st

from bot.clock import utcnow
from bot.config import THOUSANDEYES_OAUTH_CALLBACKS, Config
from bot.process.app import create_app
from bot.web.oauth_server import clients
from bot.web.services import services
from tests.faults.helpers import Serve
from tests.faults.test_webhook_fuzz import FUZZ, hostile_text, json_values
from tests.support.fake_slack import FakeSlack
from tests.support.processes import children_of, free_port
from tests.support.raw_http import chunked, send
from tests.support.slack_requests import SIGNING_SECRET

OAUTH_KEYS = ["response_type", "client_id", "redirect_uri", "scope", "state", "grant_type",
              "code", "client_secret", "admin_password", "decision", "csrf_token"]
CALLBACK = THOUSANDEYES_OAUTH_CALLBACKS[0]


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    from tests.support.databases import fresh_database_url

    slack = FakeSlack().start()
    slack.add_channel("C0ALERTS", "alerts")
    with fresh_database_url(tmp_path_factory.mktemp("fuzz")) as url:
        app = create_app(Config(
            database_url=url, slack_bot_token="xoxb-fuzz", slack_signing_secret=SIGNING_SECRET,
            slack_api_url=slack.url, slack_timeout=2, delivery_threads=0,
            oauth_admin_password="correct horse battery staple", webhook_token="t" * 20))
        database = services(app).database
        public, _ = clients.add_client(database, "pub", THOUSANDEYES_OAUTH_CALLBACKS, False, utcnow())
        confidential, secret = clients.add_client(database, "conf", THOUSANDEYES_OAUTH_CALLBACKS,
                                                  True, utcnow())
        yield app, public, confidential, secret
        database.dispose()
    slack.stop()


header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF,
                                             blacklist_characters="\x7f"), max_size=60)
timestamps = st.one_of(st.just(None), header_text, st.integers(-10**12, 10**13).map(str),
                       st.just("now"), st.sampled_from(["abc", "1.5", "", "0x10", " 1", "1_0"]))
slack_payloads = st.one_of(
    st.builds(lambda v: urlencode({"payload": json.dumps(v)}), json_values),
    st.builds(lambda t: urlencode({"payload": t}), hostile_text.filter(lambda t: "\ud800" not in t)),
    st.builds(lambda d: urlencode(d), st.dictionaries(
        st.sampled_from(["command", "text", "team_id", "channel_id", "user_id", "token",
                         "payload", "ssl_check"]), header_text, max_size=5)),
    st.builds(json.dumps, json_values),
    st.just(json.dumps({"type": "url_verification", "challenge": "c"})),
    st.just(json.dumps({"type": "event_callback", "event": {"type": "app_uninstalled"}})),
    st.just(urlencode({"payload": json.dumps({"type": "block_actions", "actions": [
        {"action_id": "te_ack", "value": "garbage"}]})})),
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
)
content_types = st.one_of(st.none(), header_text, st.sampled_from([
    "application/x-www-form-urlencoded", "application/json", "text/plain",
    "multipart/form-data; boundary=x", "application/json; charset=utf-8"]))


@FUZZ
@given(body=slack_payloads, timestamp=timestamps, signed=st.integers(0, 2),
       signature=header_text, content_type=content_types)
def test_slack_events_never_answer_5xx(fuzz_app, body, timestamp, signed, signature,
                                       content_type):
    app, *_ = fuzz_app
    headers = {}
    if timestamp == "now":
        timestamp = str(int(time.time()))
    if timestamp is not None:
        headers["X-Slack-Request-Timestamp"] = timestamp
    if signed and timestamp is not None:
        base = f"v0:{timestamp}:{body}".encode("utf-8", "surrogatepass")
        signature = "v0=" + hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()
    headers["X-Slack-Signature"] = signature
    if content_type is not None:
        headers["Content-Type"] = content_type
    answer = app.test_client().post("/slack/events", data=body.encode("utf-8", "surrogatepass"),
                                    headers=headers)
    event(f"answered {answer.status_code}")
    assert answer.status_code < 500, (answer.status_code, answer.data[:300])


oauth_params = st.dictionaries(st.sampled_from(OAUTH_KEYS), st.one_of(hostile_text, header_text),
                               max_size=6)


@FUZZ
@given(params=oauth_params, known=st.integers(0, 3), method=st.sampled_from(["GET", "POST"]),
       in_query=st.booleans(), authorization=st.one_of(
           st.none(), header_text,
           st.builds(lambda b: "Basic " + base64.b64encode(b).decode(), st.binary(max_size=40))),
       cookie=st.one_of(st.none(), header_text),
       path=st.sampled_from(["/oauth/authorize", "/oauth/authorize", "/oauth/token"]))
def test_oauth_never_answers_5xx(fuzz_app, params, known, method, in_query, authorization,
                                 cookie, path):
    app, public, confidential, secret = fuzz_app
    # Often a real client and redirect, so requests get past the first checks.
    if known:
        params.setdefault("client_id", public if known == 1 else confidential)
        params.setdefault("redirect_uri", CALLBACK)
        params.setdefault("response_type", "token" if known == 1 else "code")
        if known == 3:
            params.setdefault("client_secret", secret)
            params.setdefault("grant_type", "client_credentials")
    params = {k: v.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
              for k, v in params.items()}
    headers = {}
    if authorization is not None:
        headers["Authorization"] = authorization
    client = app.test_client()
    if cookie is not None:
        client.set_cookie("te_consent", cookie, path="/oauth/authorize")
    if method == "GET" or in_query:
        answer = client.open(path, method=method, query_string=params, headers=headers)
    else:
        answer = client.open(path, method=method, data=params, headers=headers)
    event(f"{path} answered {answer.status_code}")
    assert answer.status_code < 500, (answer.status_code, params, answer.data[:300])


def _rss_kib(pids):
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def test_large_unsigned_bodies_leave_memory_where_it_was(tmp_path, database_url):
    served = Serve(tmp_path, free_port(), "serve", DATABASE_URL=database_url,
                   SLACK_BOT_TOKEN="xoxb-mem", SLACK_SIGNING_SECRET="mem-secret",
                   SLACK_API_URL="http://127.0.0.1:9/api/", DELIVERY_THREADS="0",
                   OAUTH_ADMIN_PASSWORD="correct horse battery staple").wait_healthy()
    try:
        port = int(served.url.rsplit(":", 1)[1])
        pids = [served.bot.process.pid, *children_of(served.bot.process.pid)]
        before = _rss_kib(pids)
        piece = b"a" * (1024 * 1024)
        for path in ("/slack/events", "/oauth/token", "/oauth/authorize", "/"):
            declared = send(port, "POST", path, {"Content-Length": str(48 * len(piece))},
                            (piece for _ in range(48)), timeout=20)
            assert declared.status == 413, (path, declared.status)
            streamed = send(port, "POST", path, {"Transfer-Encoding": "chunked"},
                            chunked(piece for _ in range(48)), timeout=20)
            assert streamed.status == 413, (path, streamed.status)
        grown_mib = (_rss_kib(pids) - before) / 1024
        assert grown_mib < 16, f"serve grew by {grown_mib:.0f} MiB"
    finally:
        served.stop()
