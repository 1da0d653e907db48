"""Property-based fuzzing of ``POST /webhooks/thousandeyes``: bodies, headers, query
strings, content types and paths chosen by hypothesis.

The contract: never a 5xx, never a crash; every answer is JSON, either an acceptance
(200 ``accepted``/``duplicate`` with the ``eventId``) or a 4xx error with a ``message``.

The same examples run every time (CI must not flip on a lucky draw); ``FUZZ_RANDOM=1``
draws new ones. Defects this test found are pinned in test_found_defects.py.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import string
from typing import Any
from urllib.parse import quote, urlencode

from hypothesis import HealthCheck, event, given, settings, strategies as st

from tests.conftest import WEBHOOK_TOKEN
from tests.support.payloads import SAMPLES, load_sample

# The same examples on every run (CI must not flip on a lucky draw); FUZZ_RANDOM=1
# explores new ones (and hypothesis then replays any failure it finds from .hypothesis/).
FUZZ = settings(max_examples=200, deadline=None,
                derandomize=os.environ.get("FUZZ_RANDOM") != "1",
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])

# --- strategies --------------------------------------------------------------------------

# Strings as senders may produce them, including escapes that JSON allows: NUL, lone
# surrogates (``"\ud800"``), very long ones, dates near the ends of the calendar.
hostile_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(exclude_categories=()), max_size=40),  # surrogates too
    st.sampled_from(["", " ", "\x00", "\ud800", "a\udfffb", "<!channel>", "&amp;", "*_~`",
                     "0001-01-01 00:00:00+01:00", "9999-12-31T23:59:59-05:00", "1e309",
                     "-1", "NaN", "2014-08-24 01:01:47", "1408842107", "99999999999999999999"]),
    st.builds(lambda c, n: c * n, st.sampled_from(["x", "é", "🔥"]), st.integers(150, 700)),
)
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), hostile_text,
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(hostile_text, children, max_size=4)),
    max_leaves=12,
)


def _leaf_paths(value: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(value, dict) and value:
        return [p for key, item in value.items() for p in _leaf_paths(item, path + (key,))]
    if isinstance(value, list) and value:
        return [p for index, item in enumerate(value) for p in _leaf_paths(item, path + (index,))]
    return [path]


@st.composite
def mutated_sample(draw) -> Any:
    """A knowledge-base sample, usually with a fresh eventId, with a few of its values
    replaced by hostile ones, removed, or keys added."""
    payload = load_sample(draw(st.sampled_from(sorted(SAMPLES))))
    if draw(st.integers(0, 4)):
        payload["eventId"] = f"fuzz-{draw(st.uuids())}"
    else:
        payload["eventId"] = draw(json_values)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(_leaf_paths(payload)))
        if not path:
            break
        parent = payload
        for step in path[:-1]:
            parent = parent[step]
        choice = draw(st.integers(0, 9))
        if choice < 7:
            parent[path[-1]] = draw(json_scalars)
        elif choice < 9:
            parent[path[-1]] = draw(json_values)
        elif isinstance(parent, dict):
            del parent[path[-1]]
    if draw(st.integers(0, 4)) == 0:
        payload[draw(hostile_text)] = draw(json_values)
    return payload


def _dump(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")


bodies = st.one_of(
    st.builds(_dump, mutated_sample()),
    st.builds(_dump, mutated_sample()),
    st.builds(_dump, mutated_sample()),
    st.builds(_dump, json_values),
    st.binary(max_size=600),
    st.builds(lambda t: t.encode("utf-8", "surrogatepass"), st.text(max_size=200)),
    st.sampled_from([b"", b"{", b"[]", b"null", b'{"eventType":1}', b"\xff\xfe{}",
                     b'{"eventType":"WEBHOOK_TEST","eventId":NaN}', b"[" * 5000 + b"]" * 5000,
                     b'{"a":' * 3000 + b"1" + b"}" * 3000]),
)
header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF,
                                             blacklist_characters="\x7f"), max_size=60)
wrong_authorizations = st.one_of(
    st.none(),
    st.builds(lambda t: f"Bearer {t}", header_text),
    st.builds(lambda b: "Basic " + base64.b64encode(b).decode(), st.binary(max_size=40)),
    st.builds(lambda t: f"Basic {t}", header_text),
    header_text,
)
# Mostly the right token, so most bodies get past authentication and are parsed.
authorizations = st.integers(0, 9).flatmap(lambda n: (
    st.sampled_from([f"Bearer {WEBHOOK_TOKEN}", f"bearer   {WEBHOOK_TOKEN}  "]) if n < 7
    else wrong_authorizations))
content_types = st.one_of(
    st.none(),
    st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain",
                     "application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz",
                     "application/json; charset=latin-1", "*/*"]),
    header_text,
)
query_strings = st.one_of(
    st.just(""),
    st.just(""),
    st.builds(lambda d: urlencode(d), st.dictionaries(
        st.sampled_from(["channel", "Channel", "x", "eventId", "token"]), st.text(max_size=40),
        max_size=3)),
    st.builds(lambda t: quote(t, safe="=&#"), st.text(max_size=60)),
    st.sampled_from(["channel=", "channel=%23alerts", "channel=C0ALERTS", "channel=alerts-net",
                     "channel=%00", "channel=%ff%fe", "channel=a&channel=b", "channel"]),
)
paths = st.integers(0, 9).flatmap(lambda n: (
    st.sampled_from(["/webhooks/thousandeyes", "/webhooks/thousandeyes/"]) if n < 8
    else st.builds(lambda t: "/webhooks/thousandeyes/" + quote(t, safe=""),
                   st.text(alphabet=string.ascii_lowercase + string.digits + "-_%",
                           min_size=1, max_size=40))))


# --- the properties -----------------------------------------------------------------------


def check_answer(status: int, content_type: str, data: bytes) -> None:
    event(f"answered {status}")
    assert status < 500, (status, data[:300])
    assert content_type.startswith("application/json"), (status, content_type, data[:200])
    answer = json.loads(data)
    assert isinstance(answer, dict), answer
    if status == 200:
        assert answer.get("status") in ("accepted", "duplicate"), answer
        assert isinstance(answer.get("eventId"), str) and answer["eventId"], answer
    else:
        assert 400 <= status < 500, status
        assert isinstance(answer.get("message"), str) and answer["message"], answer


@FUZZ
@given(body=bodies, authorization=authorizations, content_type=content_types,
       query=query_strings, path=paths)
def test_webhook_answers_json_4xx_or_200_never_5xx(app, body, authorization,
                                                    content_type, query, path):
    headers = {}
    if authorization is not None:
        headers["Authorization"] = authorization
    if content_type is not None:
        headers["Content-Type"] = content_type
    client = app.test_client()
    response = client.post(path + ("?" + query if query else ""), data=body, headers=headers)
    check_answer(response.status_code, response.headers.get("Content-Type", ""), response.data)


@FUZZ
@given(body=bodies, raw_headers=st.lists(
    st.tuples(st.sampled_from(["Authorization", "Content-Type", "Content-Encoding",
                               "Transfer-Encoding", "Expect", "X-Forwarded-For", "Host"]),
              st.binary(max_size=40).filter(lambda b: b"\r" not in b and b"\n" not in b)),
    max_size=3), query=query_strings, authorized=st.integers(0, 4).map(bool))
def test_webhook_over_real_http_with_raw_header_bytes(live_server, body, raw_headers,
                                                      query, authorized):
    """Through a real socket: header values as raw bytes, odd framing headers."""
    connection = http.client.HTTPConnection("127.0.0.1", live_server.port, timeout=20)
    try:
        connection.putrequest("POST", "/webhooks/thousandeyes" + ("?" + query if query else ""),
                              skip_accept_encoding=True)
        for name, value in raw_headers:
            if name in ("Transfer-Encoding", "Host"):
                continue  # framing is ours to keep valid
            if name == "Authorization" and authorized:
                continue
            connection.putheader(name, value)
        if authorized:
            connection.putheader("Authorization", f"Bearer {WEBHOOK_TOKEN}")
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        data = response.read()
        check_answer(response.status, response.getheader("Content-Type", ""), data)
    finally:
        connection.close()
