"""Slack Web API calls over kept-alive connections, as Slack (HTTP/1.1) keeps them: one per
thread and host, replaced when Slack closed it while idle, and never used to send a post
again once its answer was lost (``chat.postMessage`` is not idempotent)."""

from __future__ import annotations

import logging
import threading

import pytest

from bot.slack.errors import RateLimited, SlackUnavailable
from bot.slack.gateway import WebApiGateway
from tests.support.fake_slack import FakeSlack
from tests.support.tls import loopback_certificate, server_context
from tests.support.waiting import wait_for

TOKEN = "xoxb-test-token"


def gateway(slack: FakeSlack, timeout: float = 2.0) -> WebApiGateway:
    return WebApiGateway(TOKEN, slack.url, timeout)


def posted(slack: FakeSlack) -> list[str]:
    return [message.text for message in slack.top_level("C0ALERTS")]


def test_posts_from_one_thread_share_one_connection(fake_slack):
    slack = gateway(fake_slack)
    for number in range(10):
        slack.post_message("C0ALERTS", f"alert {number}", None)
    assert posted(fake_slack) == [f"alert {number}" for number in range(10)]
    assert fake_slack.connections.accepted == 1


def test_each_thread_keeps_a_connection_of_its_own(fake_slack):
    slack = gateway(fake_slack)

    def post_five(thread: int) -> None:
        for number in range(5):
            slack.post_message("C0ALERTS", f"thread {thread} alert {number}", None)

    threads = [threading.Thread(target=post_five, args=(index,)) for index in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(posted(fake_slack)) == 15
    assert fake_slack.connections.accepted == 3


def test_a_connection_slack_closed_while_idle_is_replaced(fake_slack, caplog):
    slack = gateway(fake_slack)
    slack.post_message("C0ALERTS", "before", None)
    assert fake_slack.close_idle_connections() == 1
    wait_for(lambda: fake_slack.connections.open == 0, message="the idle connection closed")
    slack.post_message("C0ALERTS", "after", None)
    slack.post_message("C0ALERTS", "and after", None)
    assert posted(fake_slack) == ["before", "after", "and after"]
    assert len(fake_slack.calls_to("chat.postMessage")) == 3  # none sent twice
    assert fake_slack.connections.accepted == 2
    # Seen before it was used: no failed send, no retry, nothing alarming in the log.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.parametrize("calls_before", [0, 1], ids=["new connection", "kept connection"])
def test_a_post_whose_answer_is_lost_is_not_sent_again(fake_slack, calls_before):
    slack = gateway(fake_slack)
    for number in range(calls_before):
        slack.post_message("C0ALERTS", f"earlier {number}", None)
    fake_slack.fail("chat.postMessage", done_anyway=True, hang_up=True)
    with pytest.raises(SlackUnavailable) as raised:
        slack.post_message("C0ALERTS", "answer lost", None)
    assert raised.value.answer_lost  # delivery reads back before it posts again
    assert posted(fake_slack)[calls_before:] == ["answer lost"]
    assert len(fake_slack.calls_to("chat.postMessage")) == calls_before + 1


def test_an_answer_later_than_the_timeout_fails_the_call_and_is_never_read_as_the_next(
    fake_slack,
):
    slack = gateway(fake_slack, timeout=0.5)
    slack.post_message("C0ALERTS", "first", None)
    fake_slack.slow("chat.postMessage", delay=3.0)
    with pytest.raises(SlackUnavailable) as raised:
        slack.post_message("C0ALERTS", "late", None)
    assert raised.value.code == "connection_error" and raised.value.answer_lost
    assert posted(fake_slack) == ["first"]  # Slack had not answered yet: the timeout did it
    after = slack.post_message("C0ALERTS", "after the timeout", None)
    [message] = [m for m in fake_slack.top_level("C0ALERTS") if m.text == "after the timeout"]
    assert after.ts == message.ts
    assert fake_slack.connections.accepted == 2  # the timed-out one was not used again


def test_a_429_keeps_its_retry_after_and_the_connection(fake_slack):
    slack = gateway(fake_slack)
    fake_slack.fail("chat.postMessage", status=429, retry_after=7)
    with pytest.raises(RateLimited) as raised:
        slack.post_message("C0ALERTS", "limited", None)
    assert raised.value.retry_after == 7
    slack.post_message("C0ALERTS", "later", None)
    assert posted(fake_slack) == ["later"]
    assert fake_slack.connections.accepted == 1


def test_slack_refusing_connections_after_a_kept_one_is_a_refusal(fake_slack):
    slack = gateway(fake_slack)
    slack.post_message("C0ALERTS", "before the outage", None)
    fake_slack.go_down("refuse")
    with pytest.raises(SlackUnavailable) as raised:
        slack.post_message("C0ALERTS", "during the outage", None)
    assert raised.value.code == "connection_refused" and not raised.value.answer_lost


def test_https_is_verified_and_kept_alive(tmp_path, monkeypatch):
    certificate = loopback_certificate(tmp_path)
    fake = FakeSlack(tls=server_context(certificate)).start()
    fake.add_channel("C0ALERTS", "alerts")
    try:
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        with pytest.raises(SlackUnavailable):  # a certificate no one trusts
            gateway(fake).post_message("C0ALERTS", "untrusted", None)
        assert posted(fake) == []
        monkeypatch.setenv("SSL_CERT_FILE", str(certificate))  # a private CA, trusted
        trusting = gateway(fake)
        for number in range(3):
            trusting.post_message("C0ALERTS", f"alert {number}", None)
        assert posted(fake) == ["alert 0", "alert 1", "alert 2"]
        assert fake.connections.accepted == 1
    finally:
        fake.stop()
