"""The fake Slack's limits, as Slack documents them: chat.update is Tier 3 (past 50 calls
a minute per workspace, 429 with Retry-After, the message unchanged), and chat.postMessage
allows about one post per second per channel."""

from __future__ import annotations

import requests

from tests.support.fake_slack import FakeSlack
from tests.support.waiting import wait_for


def _update(fake: FakeSlack, token: str, ts: str) -> requests.Response:
    return requests.post(fake.url + "chat.update", timeout=5,
                         headers={"Authorization": f"Bearer {token}"},
                         data={"channel": "C0ALERTS", "ts": ts, "text": "updated"})


def _post(fake: FakeSlack, channel: str) -> requests.Response:
    return requests.post(fake.url + "chat.postMessage", timeout=5,
                         headers={"Authorization": "Bearer xoxb-a"},
                         data={"channel": channel, "text": "hello"})


# --- the fake Slack, as Slack documents it -------------------------------------------


def test_the_fake_slack_refuses_updates_past_50_a_minute_per_workspace(fake_slack):
    fake_slack.oauth_codes["code-b"] = ("T0OTHER", "xoxb-b")
    ts = _post(fake_slack, "C0ALERTS").json()["ts"]
    answers = [_update(fake_slack, "xoxb-a", ts) for _ in range(51)]
    assert [a.status_code for a in answers[:50]] == [200] * 50
    refused = answers[50]
    assert refused.status_code == 429 and refused.json()["error"] == "ratelimited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    [message] = fake_slack.messages
    assert message.updates == 50  # the refused update changed nothing
    # Another workspace has a minute of its own.
    assert _update(fake_slack, "xoxb-b", ts).status_code == 200


def test_the_fake_slack_lets_updates_through_again_as_the_minute_moves_on():
    fake = FakeSlack(update_window=0.5).start()
    fake.add_channel("C0ALERTS", "alerts")
    try:
        ts = _post(fake, "C0ALERTS").json()["ts"]
        assert all(_update(fake, "xoxb-a", ts).status_code == 200 for _ in range(50))
        assert _update(fake, "xoxb-a", ts).status_code == 429
        wait_for(lambda: _update(fake, "xoxb-a", ts).status_code == 200, 5,
                 "an update allowed once the window moved on")
    finally:
        fake.stop()


def test_the_fake_slack_still_allows_one_post_per_second_per_channel():
    fake = FakeSlack(post_rate_limit=1.0).start()
    fake.add_channel("C0ALERTS", "alerts")
    fake.add_channel("C0OTHER", "other")
    try:
        assert _post(fake, "C0ALERTS").status_code == 200
        second = _post(fake, "C0ALERTS")
        assert second.status_code == 429 and second.headers["Retry-After"] == "1"
        assert _post(fake, "C0OTHER").status_code == 200  # another channel is not held
        assert len(fake.messages) == 2
    finally:
        fake.stop()
