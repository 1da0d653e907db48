"""Several ``python -m bot worker`` processes on one database deliver each job once."""

from __future__ import annotations

from collections import Counter

from tests.faults.helpers import outbox_idle
from tests.support.delivery import send
from tests.support.payloads import load_sample, with_changes
from tests.support.processes import BotProcess, bot_env
from tests.support.waiting import wait_for

ALERTS = 30


def numbered(name: str, number: int) -> dict:
    payload = load_sample(name)
    return with_changes(payload, event_id=f"{payload['eventId']}-{number}",
                        alertId=100000 + number, testName=f"test-{number}")


def test_two_worker_processes_deliver_each_job_once(slack_server, database_url, fake_slack, tmp_path):
    env = bot_env(DATABASE_URL=database_url, SLACK_BOT_TOKEN="xoxb-workers",
                  SLACK_API_URL=fake_slack.url, SLACK_CHANNEL="C0ALERTS",
                  SLACK_POST_INTERVAL="0", DELIVERY_THREADS="3")
    workers = [BotProcess("worker", env=env, log_path=tmp_path / f"worker{i}.log") for i in range(2)]
    try:
        for number in range(ALERTS):
            send(slack_server, numbered("trigger", number))
            send(slack_server, numbered("clear", number))
        # A parent posted after its clear arrived shows it cleared already: not updated.
        wait_for(lambda: sum(1 for m in fake_slack.top_level("C0ALERTS")
                             if "cleared" in m.text.lower() and fake_slack.thread(m)) >= ALERTS,
                 60, "every parent shown cleared, with its reply")
        wait_for(lambda: outbox_idle(database_url), 30, "outbox idle")
        for worker in workers:  # SIGTERM: a stopped worker posts nothing more
            worker.stop()
        parents = fake_slack.top_level("C0ALERTS")
        names = Counter(m.text for m in parents)
        assert len(parents) == ALERTS, names
        assert all(count == 1 for count in names.values())
        for parent in parents:
            [reply] = fake_slack.thread(parent)
            assert "cleared" in parent.text.lower()
        assert len(fake_slack.calls_to("chat.postMessage")) == 2 * ALERTS
        logs = [w.log() for w in workers]
        assert all("delivery worker" in log for log in logs)
    finally:
        codes = [w.stop() for w in workers]
    assert codes == [0, 0]  # SIGTERM: finish the jobs in hand, then exit cleanly
