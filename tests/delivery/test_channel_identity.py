"""A channel named by name, public or private: resolved by posting, never by listing.

Slack never lists private channels in ``conversations.list``; ``chat.postMessage``
resolves ``#name`` (for a private channel, once the bot is a member) and answers with
the channel's id. A name the service cannot resolve for a duplicate check is "unknown":
the job posts, it is not dead-lettered.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.db.models import AlertRow, DeliveryLaneRow
from bot.delivery.runner import DeliveryWorker
from bot.outbox import queue
from bot.process.app import create_app
from bot.web.services import services
from tests.faults.helpers import clear, trigger
from tests.support.delivery import drain, send
from tests.support.servers import LiveServer


@pytest.fixture
def secops(fake_slack):
    return fake_slack.add_channel("G0SECOPS", "secops", private=True)


@pytest.fixture
def by_name(slack_config, secops):
    """The service with SLACK_CHANNEL=#secops, a private channel the bot was invited to."""
    app = create_app(slack_config.with_overrides(slack_channel="#secops"))
    worker = DeliveryWorker(services(app).config, services(app).database,
                            backoff=lambda attempts: 0.05)
    with LiveServer(app) as server:
        yield server, worker
    services(app).database.dispose()


def test_the_fake_is_faithful_about_private_channels(fake_slack, secops):
    from slack_sdk import WebClient

    client = WebClient(token="xoxb-test", base_url=fake_slack.url)
    listed = [c["id"] for c in client.conversations_list(types="public_channel,private_channel")["channels"]]
    assert "G0SECOPS" not in listed and "C0ALERTS" in listed
    posted = client.chat_postMessage(channel="#secops", text="hello")
    assert posted["channel"] == "G0SECOPS"
    secops.member = False
    with pytest.raises(Exception, match="channel_not_found"):
        client.chat_postMessage(channel="#secops", text="hello")


@pytest.mark.parametrize("where", ["SLACK_CHANNEL", "?channel="])
def test_a_private_channel_by_name_survives_a_transient_5xx(by_name, fake_slack, where):
    server, worker = by_name
    fake_slack.fail("chat.postMessage", status=503, times=1)
    channel = "secops" if where == "?channel=" else None
    send(server, trigger(1), channel=channel)
    send(server, clear(1), channel=channel)
    drain(worker)

    [parent] = fake_slack.top_level("G0SECOPS")
    assert "cleared" in parent.text.lower()
    [reply] = fake_slack.thread(parent)
    assert reply.channel == "G0SECOPS"
    assert fake_slack.calls_to("conversations.list") == []
    assert queue.list_jobs(worker.database, dead_only=True) == []
    with worker.database.session() as session:
        alert = session.scalars(select(AlertRow)).one()
        assert (alert.slack_channel, alert.slack_ts) == ("G0SECOPS", parent.ts)
        lane = session.scalars(select(DeliveryLaneRow).where(
            DeliveryLaneRow.channel_id.is_not(None))).one()
        assert lane.channel_id == "G0SECOPS"  # learnt from Slack's answer


def test_a_lost_answer_is_looked_for_by_the_id_the_channel_answered_with(by_name, fake_slack):
    server, worker = by_name
    send(server, trigger(1))
    drain(worker)  # the first post tells the lane #secops is G0SECOPS
    fake_slack.fail("chat.postMessage", status=500, done_anyway=True)  # posted, answer lost
    send(server, trigger(2))
    drain(worker)

    assert len(fake_slack.top_level("G0SECOPS")) == 2  # alert 2 once, not twice
    [lookup] = fake_slack.calls_to("conversations.history")
    assert lookup.args["channel"] == "G0SECOPS"
    assert fake_slack.calls_to("conversations.list") == []


def test_a_lost_answer_with_no_id_known_yet_posts_rather_than_dies(by_name, fake_slack):
    server, worker = by_name
    fake_slack.fail("chat.postMessage", status=502, times=2)
    send(server, trigger(1))
    drain(worker)
    assert len(fake_slack.top_level("G0SECOPS")) == 1
    assert queue.list_jobs(worker.database, dead_only=True) == []


def test_a_private_channel_the_bot_is_not_in_is_dead_lettered_saying_so(by_name, fake_slack,
                                                                        secops):
    server, worker = by_name
    secops.member = False
    send(server, trigger(1))
    drain(worker)
    [dead] = queue.list_jobs(worker.database, dead_only=True)
    assert "channel_not_found" in dead.last_error
    assert fake_slack.calls_to("conversations.list") == []
