"""A signed Slack request seen before (same signature and timestamp, still inside
Slack's five minutes) is answered without acting again, whichever process sees it.

Slack never sends one request twice (each command has its own trigger_id, each click its
own action_ts): a second copy is someone replaying what they captured.
"""

from __future__ import annotations

import json
import re
import time

from sqlalchemy import func, select

from bot.db.models import RouteRow, SlackRequestRow
from bot.process.app import create_app
from bot.render.actions import ACKNOWLEDGE, UNACKNOWLEDGE
from bot.store.replays import REMEMBERED_FOR, first_sight
from bot.web.services import services
from tests.slack.test_acknowledge import acknowledgements, posted_alert  # noqa: F401 (fixture)
from tests.support.delivery import drain
from tests.support.servers import LiveServer
from tests.support.slack_requests import (
    block_action_body,
    post_to_slack_endpoint,
    signed_headers,
    slash_command_body,
)
from tests.support.waiting import wait_for
from tests.support.workspaces import TEAM_A, TEAM_B, install, install_both


def routes(app) -> int:
    with services(app).database.session() as session:
        return session.scalar(select(func.count()).select_from(RouteRow))


def test_a_replayed_connect_makes_no_second_webhook_and_shows_no_token(multi, fake_slack):
    server, worker, app = multi
    install_both(server)
    body = slash_command_body("connect", channel_id="C0TEAMA", team_id=TEAM_A)
    headers = signed_headers(body)
    first = post_to_slack_endpoint(server.url, body, headers)
    assert first.status_code == 200 and "*Token:*" in first.json()["text"]
    token = re.search(r"\*Token:\* `([^`]+)`", first.json()["text"]).group(1)

    replayed = post_to_slack_endpoint(server.url, body, headers)
    assert replayed.status_code == 200
    assert replayed.json()["response_type"] == "ephemeral"
    assert "already" in replayed.json()["text"]
    assert "Token" not in replayed.text and token not in replayed.text
    assert routes(app) == 1
    drain(worker)
    assert len(fake_slack.top_level("C0TEAMA")) == 1  # one announcement, not two


def test_a_replayed_acknowledge_click_does_not_act_again(slack_server, worker, fake_slack,
                                                         posted_alert):  # noqa: F811
    parent, ref = posted_alert
    body = block_action_body(ACKNOWLEDGE, ref, user_id="U0ALICE", user_name="alice",
                             channel_id=parent.channel, message_ts=parent.ts)
    headers = signed_headers(body)
    assert post_to_slack_endpoint(slack_server.url, body, headers).status_code == 200
    unack = block_action_body(UNACKNOWLEDGE, ref, user_id="U0ALICE", user_name="alice",
                              channel_id=parent.channel, message_ts=parent.ts)
    assert post_to_slack_endpoint(slack_server.url, unack, signed_headers(unack)).status_code == 200
    drain(worker)

    replayed = post_to_slack_endpoint(slack_server.url, body, headers)
    assert replayed.status_code == 200
    drain(worker)
    assert [a.withdrawn_at is not None for a in acknowledgements(worker)] == [True]
    assert "<@U0ALICE>" not in parent.text  # still not acknowledged by her
    assert len(fake_slack.thread(parent)) == 2  # acknowledged, then no longer: no third note


def test_a_replay_is_refused_by_another_process_too(multi, fake_slack):
    """Two processes on one database (web dynos): the second knows what the first saw."""
    server, _worker, app = multi
    install(server, "code-a")
    other_app = create_app(services(app).config)
    try:
        with LiveServer(other_app) as other:
            body = slash_command_body("connect", channel_id="C0TEAMA", team_id=TEAM_A)
            headers = signed_headers(body)
            assert "*Token:*" in post_to_slack_endpoint(server.url, body, headers).json()["text"]
            replayed = post_to_slack_endpoint(other.url, body, headers)
            assert replayed.status_code == 200 and "Token" not in replayed.text
    finally:
        services(other_app).database.dispose()
    assert routes(app) == 1


def uninstall_event(team_id: str) -> tuple[str, dict[str, str]]:
    event = json.dumps({"token": "legacy", "team_id": team_id, "api_app_id": "A0APP",
                        "type": "event_callback", "event_id": f"Ev0UNINSTALL{team_id}",
                        "event_time": int(time.time()), "event": {"type": "app_uninstalled"}})
    return event, signed_headers(event) | {"Content-Type": "application/json"}


def test_a_replayed_uninstall_event_leaves_a_reinstalled_workspace_alone(multi, fake_slack):
    server, _worker, app = multi
    install_both(server)
    store = services(app).installation_store

    def installed(team_id: str) -> bool:
        return store.find_bot(enterprise_id=None, team_id=team_id) is not None

    event, headers = uninstall_event(TEAM_B)
    assert post_to_slack_endpoint(server.url, event, headers).status_code == 200
    wait_for(lambda: not installed(TEAM_B), timeout=5, message="B's uninstall recorded")
    assert install(server, "code-b").status_code == 200

    assert post_to_slack_endpoint(server.url, event, headers).status_code == 200
    # Bolt runs event listeners after answering; workspace A's uninstall, sent after the
    # replay and awaited, shows that listeners have run by then.
    event_a, headers_a = uninstall_event(TEAM_A)
    assert post_to_slack_endpoint(server.url, event_a, headers_a).status_code == 200
    wait_for(lambda: not installed(TEAM_A), timeout=5, message="A's uninstall recorded")
    assert installed(TEAM_B)


def test_what_slack_would_refuse_anyway_is_forgotten(database):
    """A request older than Slack's five minutes fails its signature check, so it need
    not be remembered; the table stays as small as five minutes of traffic."""
    now = 1_800_000_000
    assert first_sight(database, "a" * 64, now, now)
    assert not first_sight(database, "a" * 64, now, now + 10)
    assert first_sight(database, "b" * 64, now + 10, now + 10)
    later = now + int(REMEMBERED_FOR.total_seconds()) + 1
    assert first_sight(database, "c" * 64, later, later)
    with database.session() as session:
        kept = set(session.scalars(select(SlackRequestRow.signature)))
    assert kept == {"b" * 64, "c" * 64}
