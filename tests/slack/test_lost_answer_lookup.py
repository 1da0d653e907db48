"""The look-up after a lost chat.postMessage answer reads back by time (``oldest``: when
the post was attempted, less a margin), page after page as Slack serves them, not a
fixed number of messages: apps installed outside the Marketplace get 15 a call."""

from __future__ import annotations

import time

from bot.slack.gateway import POST_MARKER_EVENT, WebApiGateway


def post(gateway: WebApiGateway, text: str, marker: str | None = None) -> str:
    metadata = ({"event_type": POST_MARKER_EVENT, "event_payload": {"marker": marker}}
                if marker else None)
    return gateway.post_message("C0ALERTS", text, None, metadata=metadata).ts


def test_the_lost_post_is_found_behind_a_busy_channel(fake_slack):
    fake_slack.history_page_limit = 15
    gateway = WebApiGateway("xoxb-test-token", fake_slack.url)
    for number in range(20):
        post(gateway, f"older {number}")
    attempted = time.time()
    ts = post(gateway, "the post whose answer was lost", marker="job-7")
    for number in range(40):  # the channel went on while the answer was lost
        post(gateway, f"later {number}")
    found = gateway.find_posted("C0ALERTS", "job-7", oldest=attempted - 5)
    assert found is not None and found.ts == ts
    calls = fake_slack.calls_to("conversations.history")
    assert all(float(c.args["oldest"]) <= attempted - 5 + 1e-6 for c in calls)  # 6 decimals
    assert len(calls) == 3  # 40 later ones at 15 a page, then the one that holds it


def test_the_look_up_stops_at_oldest(fake_slack):
    gateway = WebApiGateway("xoxb-test-token", fake_slack.url)
    post(gateway, "posted long before", marker="job-8")
    since = time.time() + 1
    assert gateway.find_posted("C0ALERTS", "job-8", oldest=since) is None
    [call] = fake_slack.calls_to("conversations.history")
    assert "limit" not in call.args or int(call.args["limit"]) != 100
