"""Delivery end to end: webhook over HTTP -> database -> worker -> fake Slack over HTTP."""

from __future__ import annotations

import json
import time
from datetime import timedelta

from sqlalchemy import select

from bot.clock import utcnow
from bot.db.models import AlertRow, JobRow, JobStatus
from bot.delivery.outcome import Retry
from bot.delivery.runner import DeliveryWorker
from bot.outbox import queue
from bot.render.actions import ACKNOWLEDGE, VIEW_IN_THOUSANDEYES
from bot.web.services import services
from tests.support.delivery import drain, open_jobs, send
from tests.support.payloads import load_sample, load_variant
from tests.support.waiting import wait_for


def action_ids(message):
    return [element.get("action_id")
            for block in message.blocks if block.get("type") == "actions"
            for element in block.get("elements", [])]


def text_of(message):
    return message.text + json.dumps(message.blocks, ensure_ascii=False)


def test_trigger_posts_a_parent_with_acknowledge_and_link(slack_server, worker, fake_slack):
    send(slack_server, load_sample("trigger"))
    drain(worker)
    [parent] = fake_slack.top_level("C0ALERTS")
    assert "Default Page Load Alert Rule" in parent.text
    assert ACKNOWLEDGE in action_ids(parent) and VIEW_IN_THOUSANDEYES in action_ids(parent)
    body = text_of(parent)
    assert "Boston, MA" in body and "Vancouver, Canada" in body
    assert "<!date^1408842107^" in body  # start time as a Slack date token
    with worker.database.session() as session:
        alert = session.scalars(select(AlertRow)).one()
        assert (alert.slack_channel, alert.slack_ts) == ("C0ALERTS", parent.ts)


def test_clear_replies_in_thread_and_updates_parent(slack_server, worker, fake_slack):
    send(slack_server, load_sample("trigger"))
    drain(worker)
    send(slack_server, load_sample("clear"))
    drain(worker)
    [parent] = fake_slack.top_level()
    [reply] = fake_slack.thread(parent)
    assert reply.thread_ts == parent.ts and not reply.reply_broadcast
    assert "Page Load: Complete" in text_of(reply)
    assert "8m 4s" in text_of(reply)  # 01:01:47 -> 01:09:51
    assert parent.updates == 1
    assert ACKNOWLEDGE not in action_ids(parent)  # no Acknowledge once cleared
    assert "cleared" in parent.text.lower()
    assert [c.method for c in fake_slack.calls] == ["chat.postMessage", "chat.postMessage", "chat.update"]


def test_broadcast_clears(slack_config, fake_slack, tmp_path):
    from bot.delivery.runner import DeliveryWorker
    from bot.process.app import create_app
    from bot.web.services import services
    from tests.support.servers import LiveServer

    app = create_app(slack_config.with_overrides(slack_broadcast_clears=True))
    worker = DeliveryWorker(services(app).config, services(app).database)
    with LiveServer(app) as server:
        send(server, load_sample("trigger"))
        send(server, load_sample("clear"))
        drain(worker)
    [parent] = fake_slack.top_level()
    [reply] = fake_slack.thread(parent)
    assert reply.reply_broadcast
    services(app).database.dispose()


def test_agent_alert_trigger_and_clear(slack_server, worker, fake_slack):
    send(slack_server, load_sample("agent-trigger"))
    clear = load_sample("agent-clear")
    clear["agentAlert"]["agentNotificationId"] = 5744505
    send(slack_server, clear)
    drain(worker)
    [parent] = fake_slack.top_level()
    [reply] = fake_slack.thread(parent)
    body = text_of(parent)
    assert "cluster-agent2" in body or "Packet1" in body
    assert "Default Agent Clock Offset Notification" in body
    assert "Clock Offset: 130 seconds" in text_of(reply)


def test_webhook_test_posts_a_confirmation(slack_server, worker, fake_slack):
    send(slack_server, load_sample("test"))
    drain(worker)
    [message] = fake_slack.top_level("C0ALERTS")
    assert "test" in message.text.lower()
    assert "1415733887743" in text_of(message)


def test_unknown_event_posts_a_generic_message(slack_server, worker, fake_slack):
    send(slack_server, load_variant("unknown_event_type"))
    drain(worker)
    [message] = fake_slack.top_level()
    assert "ALERT_NOTIFICATION_SUPPRESSED" in text_of(message)
    assert "Something new" in text_of(message)


def test_channel_override_by_name(slack_server, worker, fake_slack):
    send(slack_server, load_sample("trigger"), channel="other")
    drain(worker)
    assert len(fake_slack.top_level("C0OTHER")) == 1
    assert fake_slack.top_level("C0ALERTS") == []


def test_clear_arriving_before_trigger_is_delivered(slack_server, worker, fake_slack):
    send(slack_server, load_sample("trigger"))
    send(slack_server, load_sample("clear"))
    drain(worker)
    [parent] = fake_slack.top_level()
    assert "cleared" in parent.text.lower()
    assert ACKNOWLEDGE not in action_ids(parent)
    assert len(fake_slack.thread(parent)) == 1


def test_clear_with_no_trigger_becomes_the_parent(slack_server, worker, fake_slack):
    send(slack_server, load_sample("clear"))
    drain(worker)
    [parent] = fake_slack.top_level()
    assert "cleared" in parent.text.lower()
    assert fake_slack.thread(parent) == []
    assert [c.method for c in fake_slack.calls] == ["chat.postMessage"]


def test_second_trigger_updates_parent_and_notes_it(slack_server, worker, fake_slack):
    trigger = load_sample("trigger")
    send(slack_server, trigger)
    drain(worker)
    trigger["eventId"] = "49-35541-again"
    send(slack_server, trigger)
    drain(worker)
    [parent] = fake_slack.top_level()
    [note] = fake_slack.thread(parent)
    assert parent.updates == 1
    assert "2" in note.text


def test_hostile_values_are_shown_not_executed(slack_server, worker, fake_slack):
    trigger = load_sample("trigger")
    trigger["alert"]["testName"] = "<!channel> & <@U123> \"quoted\" \\ back\nline"
    trigger["alert"]["ruleName"] = "x" * 5000
    trigger["alert"]["agents"] = [dict(trigger["alert"]["agents"][0], agentName=f"agent-{i}")
                                  for i in range(300)]
    send(slack_server, trigger)
    drain(worker)
    [parent] = fake_slack.top_level()
    body = text_of(parent)
    assert "<!channel>" not in body and "<@U123>" not in body
    assert "&lt;!channel&gt;" in body and "&lt;@U123&gt;" in body
    assert len(parent.blocks) <= 50
    assert "more" in body  # "…and N more" agents


def test_not_in_channel_joins_once_and_posts(slack_server, worker, fake_slack):
    fake_slack.channels["C0ALERTS"].member = False
    send(slack_server, load_sample("test"))
    drain(worker)
    assert [c.method for c in fake_slack.calls] == [
        "chat.postMessage", "conversations.join", "chat.postMessage"]
    assert len(fake_slack.top_level("C0ALERTS")) == 1


def test_server_errors_are_retried_until_slack_recovers(slack_server, worker, fake_slack):
    fake_slack.fail("chat.postMessage", status=503, times=3)
    send(slack_server, load_sample("trigger"))
    send(slack_server, load_sample("clear"))
    drain(worker)
    [parent] = fake_slack.top_level()
    assert len(fake_slack.thread(parent)) == 1
    assert len(fake_slack.calls_to("chat.postMessage", ok_only=True)) == 2


def test_timeouts_are_retried(slack_server, worker, fake_slack):
    fake_slack.fail("chat.postMessage", delay=3.0, status=200, error=None, times=1)
    send(slack_server, load_sample("test"))
    drain(worker)
    # The timed-out call may or may not have landed on the fake; the retry must post.
    assert len(fake_slack.calls_to("chat.postMessage")) == 2


def test_permanent_error_is_dead_lettered_and_can_be_revived(slack_server, worker, fake_slack):
    fake_slack.fail("chat.postMessage", error="channel_not_found", times=1)
    send(slack_server, load_sample("trigger"))
    drain(worker)
    assert fake_slack.top_level() == []
    [dead] = queue.list_jobs(worker.database, dead_only=True)
    assert dead.status == JobStatus.DEAD and "channel_not_found" in dead.last_error

    assert queue.revive(worker.database, utcnow(), dead.id) == 1
    drain(worker)
    assert len(fake_slack.top_level()) == 1
    assert queue.list_jobs(worker.database, dead_only=True) == []


def test_rate_limited_channel_waits_while_another_proceeds(slack_server, worker, fake_slack):
    fake_slack.fail("chat.postMessage", status=429, retry_after=2, channel="C0ALERTS")
    send(slack_server, load_sample("test"))
    send(slack_server, load_sample("trigger"), channel="C0OTHER")
    started = time.monotonic()
    drain(worker)
    posts = fake_slack.calls_to("chat.postMessage")
    alerts_calls = [c for c in posts if c.args["channel"] == "C0ALERTS"]
    other_ok = [c for c in posts if c.args["channel"] == "C0OTHER" and c.status == 200]
    assert [c.status for c in alerts_calls] == [429, 200]
    assert alerts_calls[1].at - alerts_calls[0].at >= 2.0  # Retry-After honoured
    assert other_ok[0].at - started < 1.0  # the other channel was not held up
    assert other_ok[0].at < alerts_calls[1].at


def paced_worker(app, interval: float) -> DeliveryWorker:
    app_services = services(app)
    return DeliveryWorker(app_services.config, app_services.database,
                          wake=app_services.jobs_waiting, post_interval=interval,
                          backoff=lambda attempts: 0.05)


def test_a_post_answered_late_holds_the_next_post_of_its_channel_back(
    slack_app, slack_server, fake_slack
):
    interval, answer_after = 0.5, 0.8
    fake_slack.fail("chat.postMessage", status=503, delay=answer_after)
    send(slack_server, load_sample("test"))
    send(slack_server, load_sample("trigger"))
    worker = paced_worker(slack_app, interval)
    worker.start(threads=2)
    try:
        wait_for(lambda: not open_jobs(worker), 20, "every job done")
    finally:
        worker.stop()
    posts = [c.at for c in fake_slack.calls_to("chat.postMessage")]
    assert len(posts) == 3  # the failed post, the other job's, its retry
    gaps = [later - earlier for earlier, later in zip(posts, posts[1:], strict=False)]
    # The second thread waited for the slow answer, not just for the first post's slot.
    assert gaps[0] >= answer_after + interval
    assert min(gaps) >= interval


def test_the_post_retried_after_joining_waits_for_its_own_slot(slack_app, slack_server, fake_slack):
    fake_slack.channels["C0ALERTS"].member = False
    send(slack_server, load_sample("test"))
    drain(paced_worker(slack_app, interval=0.3))
    refused, retried = fake_slack.calls_to("chat.postMessage")
    assert refused.error == "not_in_channel" and retried.error is None
    assert retried.at - refused.at >= 0.3


def test_restart_with_pending_jobs_delivers_them(slack_config, fake_slack):
    from bot.delivery.runner import DeliveryWorker
    from bot.process.app import create_app
    from bot.web.services import services
    from tests.support.servers import LiveServer

    first = create_app(slack_config)
    with LiveServer(first) as server:
        send(server, load_sample("trigger"))
        send(server, load_sample("clear"))
    services(first).database.dispose()  # the process "stops" with two jobs queued

    second = create_app(slack_config)
    worker = DeliveryWorker(services(second).config, services(second).database)
    drain(worker)
    [parent] = fake_slack.top_level()
    assert len(fake_slack.thread(parent)) == 1
    with services(second).database.session() as session:
        assert {j.status for j in session.scalars(select(JobRow))} == {JobStatus.DONE}
    services(second).database.dispose()


def test_a_job_failing_again_and_again_does_not_starve_later_jobs(slack_server, worker):
    send(slack_server, load_sample("trigger"))
    send(slack_server, load_sample("test"))
    database, lease, start = worker.database, timedelta(seconds=60), utcnow()

    failing = queue.claim_next(database, "w", start, lease).job
    # It fails and is due again one second later; the other job has been due since start.
    assert queue.finish(database, failing, Retry(0, "http_502"), start + timedelta(seconds=1)).recorded
    following = queue.claim_next(database, "w", start + timedelta(seconds=2), lease).job
    assert following is not None and following.id != failing.id
