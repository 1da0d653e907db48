"""Requests to ``/slack/events`` that Slack did not sign: each gets a 401 in JSON, never a
500, whatever its headers and body hold. Slack's own signed requests still reach Bolt."""

from __future__ import annotations

import pytest

from tests.support.slack_requests import SIGNING_SECRET, signed_headers

FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize("timestamp", [
    "abc", "1.5", "", "0x10", " 1700000000", "1_700_000_000", "+1700000000", "-1",
    "\u0661\u0667\u0660\u0660",  # Arabic-Indic digits, which int() accepts
    "9" * 40,
])
def test_malformed_timestamp_is_401(slack_app, timestamp):
    body = "payload=%7B%7D"
    headers = signed_headers(body)
    headers["X-Slack-Request-Timestamp"] = timestamp
    answer = slack_app.test_client().post("/slack/events", data=body, headers=headers)
    assert answer.status_code == 401, (timestamp, answer.status_code)
    assert answer.is_json and "signature" in answer.json["message"]


@pytest.mark.parametrize("signature", [None, "", "v0=", "v1=" + "0" * 64, "v0=" + "z" * 64,
                                       "v0=" + "0" * 64])
def test_missing_malformed_or_wrong_signature_is_401(slack_app, signature):
    body = "payload=x"  # not JSON: Bolt would fail to parse it before checking anything
    headers = signed_headers(body)
    if signature is None:
        del headers["X-Slack-Signature"]
    else:
        headers["X-Slack-Signature"] = signature
    answer = slack_app.test_client().post("/slack/events", data=body, headers=headers)
    assert answer.status_code == 401 and answer.is_json


def test_unsigned_json_body_is_401(slack_app):
    body = "{not json"
    headers = signed_headers(body, secret="someone-elses-secret")
    headers["Content-Type"] = "application/json"
    answer = slack_app.test_client().post("/slack/events", data=body, headers=headers)
    assert answer.status_code == 401 and answer.is_json


def test_signed_but_unparsable_body_is_400(slack_app):
    body = "payload=x"
    answer = slack_app.test_client().post("/slack/events", data=body,
                                          headers=signed_headers(body, SIGNING_SECRET))
    assert answer.status_code == 400 and answer.is_json and answer.json["message"]


def test_signed_url_verification_still_reaches_bolt(slack_app):
    body = '{"type": "url_verification", "challenge": "c-123", "token": "t"}'
    headers = signed_headers(body)
    headers["Content-Type"] = "application/json"
    answer = slack_app.test_client().post("/slack/events", data=body, headers=headers)
    assert answer.status_code == 200 and answer.json == {"challenge": "c-123"}
