"""Socket Mode end to end against a real websocket server on loopback: hello, a button
click, its acknowledgement, a disconnect and the reconnect, as Slack does them."""

from __future__ import annotations

import json
import logging

import pytest
import requests

from bot.delivery.runner import DeliveryWorker
from bot.process.app import create_app
from bot.process.background import start_socket_mode, stop_socket_mode
from bot.render.actions import ACKNOWLEDGE
from bot.web.services import services
from tests.support.delivery import drain, send
from tests.support.fake_socket_mode import FakeSocketMode
from tests.support.payloads import load_sample
from tests.support.servers import LiveServer
from tests.support.slack_requests import block_action_payload
from tests.support.waiting import wait_for

APP_TOKEN = "xapp-1-A0APP-1234-socketsecret"


@pytest.fixture
def socket_server(fake_slack):
    server = FakeSocketMode().start()
    fake_slack.socket_mode_url = server.url
    yield server
    server.stop()


@pytest.fixture
def socket_app(slack_config, socket_server):
    # No signing secret: over Socket Mode, Slack never calls the service over HTTP.
    config = slack_config.with_overrides(slack_signing_secret=None, slack_app_token=APP_TOKEN)
    app = create_app(config)
    worker = DeliveryWorker(config, services(app).database, backoff=lambda attempts: 0.05)
    with LiveServer(app) as server:
        start_socket_mode(app)
        try:
            yield server, worker
        finally:
            stop_socket_mode(app)
            worker.stop()
            services(app).database.dispose()


def socket_state(url: str) -> str:
    return requests.get(url + "/healthz", timeout=10).json()["socket_mode"]


def ack_button_value(message) -> str:
    return next(element["value"] for block in message.blocks if block.get("type") == "actions"
                for element in block["elements"] if element.get("action_id") == ACKNOWLEDGE)


def test_click_over_the_socket_is_acknowledged_and_recorded_then_it_reconnects(
        socket_app, socket_server, fake_slack, caplog):
    caplog.set_level(logging.INFO)
    server, worker = socket_app
    url = server.url
    wait_for(lambda: socket_state(url) == "connected", timeout=30)
    [opened] = fake_slack.calls_to("apps.connections.open")
    assert opened.token == APP_TOKEN

    send(server, load_sample("trigger"))
    drain(worker)
    [parent] = fake_slack.top_level("C0ALERTS")
    envelope_id = socket_server.send_interactive(block_action_payload(
        ACKNOWLEDGE, ack_button_value(parent), user_id="U0ALICE01", user_name="alice",
        channel_id="C0ALERTS", message_ts=parent.ts))
    wait_for(lambda: socket_server.acknowledged(envelope_id), timeout=30)

    def refreshed() -> bool:
        drain(worker)
        return parent.updates >= 1 and len(fake_slack.thread(parent)) == 1

    wait_for(refreshed, timeout=30)
    rendered = parent.text + json.dumps(parent.blocks)
    assert "Acknowledged by" in rendered and "U0ALICE01" in rendered
    [note] = fake_slack.thread(parent)
    assert "alice acknowledged" in note.text

    socket_server.send_disconnect()
    wait_for(lambda: len(socket_server.connections) == 2, timeout=30)
    wait_for(lambda: socket_state(url) == "connected", timeout=30)
    assert len(fake_slack.calls_to("apps.connections.open")) == 2

    def ours() -> list[str]:
        return [r.getMessage() for r in caplog.records
                if r.name == "bot.slack.socket_mode" and "connected" in r.getMessage()]

    wait_for(lambda: len(ours()) == 2)
    assert ours() == [
        "Socket Mode connected: buttons and commands arrive over the websocket",
        "Socket Mode reconnected (connection 2)",
    ]
    sdk_info = [r for r in caplog.records
                if r.name.startswith("slack_sdk.socket_mode") and r.levelno < logging.WARNING]
    assert sdk_info == []  # slack_sdk's own session chatter stays out of the log
    assert APP_TOKEN not in caplog.text


def test_health_says_connecting_while_slack_cannot_be_reached(slack_config, fake_slack):
    config = slack_config.with_overrides(slack_signing_secret=None, slack_app_token=APP_TOKEN)
    app = create_app(config)  # fake Slack answers apps.connections.open with an error
    with LiveServer(app) as server:
        start_socket_mode(app)
        try:
            wait_for(lambda: fake_slack.calls_to("apps.connections.open"))
            assert socket_state(server.url) == "connecting"
        finally:
            stop_socket_mode(app)
            services(app).database.dispose()


def test_health_says_nothing_of_socket_mode_without_an_app_token(live_server):
    assert "socket_mode" not in requests.get(live_server.url + "/healthz", timeout=10).json()
