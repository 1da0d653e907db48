"""Two delivery processes, one channel Slack limits to one post a second: the pacing is
shared through the database, so together they stay within the limit.

``python -m bot serve`` (delivery threads beside the web threads) and ``python -m bot
worker`` run as real processes against one database and the fake Slack; each posts with
its own token, so the calls show that both took part.
"""

from __future__ import annotations

from tests.faults.helpers import Serve, outbox_idle, post_webhook, trigger
from tests.support.fake_slack import FakeSlack
from tests.support.processes import BotProcess, bot_env, free_port
from tests.support.waiting import wait_for

POSTS = 16


def test_serve_and_a_worker_share_one_channel_within_its_rate_limit(database_url, tmp_path):
    fake = FakeSlack(post_rate_limit=1.0).start()
    fake.add_channel("C0ALERTS", "alerts")
    common = dict(DATABASE_URL=database_url, SLACK_API_URL=fake.url, SLACK_CHANNEL="C0ALERTS",
                  SLACK_POST_INTERVAL="1", DELIVERY_THREADS="2",
                  WEBHOOK_TOKEN="test-webhook-token-0123456789")
    serve = Serve(tmp_path, free_port(), "serve", SLACK_BOT_TOKEN="xoxb-serve", **common)
    worker = BotProcess("worker", env=bot_env(SLACK_BOT_TOKEN="xoxb-worker", **common),
                        log_path=tmp_path / "worker.log", cwd=tmp_path)
    try:
        serve.wait_healthy()
        wait_for(lambda: "delivery worker" in worker.log(), 30, "worker started")
        for number in range(POSTS):
            assert post_webhook(serve.url, trigger(number)).status_code == 200
        wait_for(lambda: len(fake.top_level("C0ALERTS")) == POSTS, 60, "every alert posted")
        wait_for(lambda: outbox_idle(database_url), 10, "outbox idle")
        posts = fake.calls_to("chat.postMessage")
        limited = [c for c in posts if c.status == 429]
        assert len(limited) <= 1, f"{len(limited)} of {len(posts)} posts answered 429"
        posters = sorted(c.token for c in posts if c.status == 200)
        assert set(posters) == {"xoxb-serve", "xoxb-worker"}, (
            f"both processes should have posted: {posters}")
    finally:
        serve.stop()
        worker.stop()
        fake.stop()
