"""Claims that cost nothing when nothing can be claimed.

A webhook whose channel waits for its next post slot (a post in flight, a Retry-After,
in any process) wakes no delivery thread: it sets the threads' timer to the slot
instead. Log-only delivery calls no one, so it is not paced at all.
"""

from __future__ import annotations

from bot.config import Config
from bot.delivery.runner import DeliveryWorker
from bot.process.app import create_app
from bot.web.services import services
from tests.conftest import WEBHOOK_TOKEN
from tests.faults.helpers import trigger
from tests.support.delivery import hold_lanes, open_jobs, send
from tests.support.servers import LiveServer


def test_a_webhook_for_a_paced_channel_wakes_no_thread(slack_app, slack_server, worker):
    wake = services(slack_app).jobs_waiting
    send(slack_server, trigger(1))
    assert wake.wait(2) is True  # its channel was free: a thread is woken for it
    hold_lanes(worker, seconds=30)  # as while a post to the channel is in flight
    for number in range(2, 12):
        send(slack_server, trigger(number))
    assert wake.wait(0.5) is False  # nothing to claim before the slot: no wake-up
    send(slack_server, trigger(20), channel="C0OTHER")  # another channel is free
    assert wake.wait(2) is True


def test_log_only_delivery_is_not_paced(database_url, tmp_path):
    config = Config(database_url=database_url, webhook_token=WEBHOOK_TOKEN, delivery_threads=0,
                    slack_channel="C0ALERTS", slack_post_interval=1.0)
    app = create_app(config)
    worker = DeliveryWorker(config, services(app).database)
    with LiveServer(app) as server:
        for number in range(3):
            send(server, trigger(number))
    # Three posts to one channel, one after the other, with no slot to wait for.
    assert [worker.run_once() for _ in range(3)] == [True, True, True]
    assert open_jobs(worker) == 0
    services(app).database.dispose()
