"""Whatever is typed after ``/thousandeyes``, the answer is never a 5xx, and nothing
outside the caller's workspace changes or shows.

Two workspaces are installed, each with a webhook, an open alert and a snooze in a
channel they share (Slack Connect); property-based examples then type every command and
subcommand with arbitrary text, as any member of either workspace, in any channel.
"""

from __future__ import annotations

import json
from typing import Any

import requests
from hypothesis import HealthCheck, example, given, settings, strategies as st
from sqlalchemy import select

from bot.db.models import AcknowledgementRow, AlertRow, JobRow, RouteRow, SnoozeRow
from bot.render.actions import SNOOZE, encode_snooze_choice
from bot.web.services import services
from tests.support.delivery import drain
from tests.support.payloads import sample_event
from tests.support.slack_requests import choose
from tests.support.workspaces import (
    TEAM_A,
    TEAM_B,
    command,
    connect,
    install_both,
    post_alert,
    send_command,
)

VERBS = ("", "status", "help", "connect", "list", "disconnect", "snooze", "snooze list",
         "snooze cancel", "snooze cancel #")
USERS = {TEAM_A: ("U0ALICE", "U0BOB", "U0CAROL"), TEAM_B: ("U0BETTY", "U0BILL", "U0BADMIN")}
# The shared channel, where both workspaces have a webhook, alert and snooze, half the time.
CHANNELS = st.one_of(st.just("C0SHARED"),
                     st.sampled_from(("C0TEAMA", "C0TEAMB", "C0SHARED", "C0NOWHERE")))
RULES = {TEAM_A: "Rule of workspace A", TEAM_B: "Rule of workspace B"}


def _alert_with_snooze(server, worker, fake_slack, app, channel, team, user) -> str:
    """Connect ``channel``, post an alert of the workspace's own rule there and snooze
    it; returns the route id."""
    url, token = connect(server, channel, team, user_id=user)
    payload = sample_event("trigger", ruleName=RULES[team])
    assert requests.post(url, data=json.dumps(payload), timeout=10,
                         headers={"Authorization": f"Bearer {token}"}).status_code == 200
    drain(worker)
    with services(app).database.session() as session:
        alert_id = session.scalars(select(AlertRow.id).where(AlertRow.slack_team == team)).one()
        ts = session.scalars(select(AlertRow.slack_ts).where(AlertRow.id == alert_id)).one()
    response = choose(server.url, SNOOZE, encode_snooze_choice(alert_id, 24), user_id=user,
                      user_name=user.lower(), channel_id=channel, message_ts=ts, team_id=team)
    assert response.status_code == 200
    return url.rsplit("/", 1)[-1]


def _workspace_state(app, team: str) -> dict[str, Any]:
    """Everything of one workspace a command could change: webhooks, alerts (and who
    acknowledges them), snoozes, queued messages."""
    with services(app).database.session() as session:
        return {
            "routes": sorted((r.id, r.channel_id, r.disabled_at is None) for r in session.scalars(
                select(RouteRow).where(RouteRow.team_id == team))),
            "alerts": sorted((a.id, a.state, a.slack_channel) for a in session.scalars(
                select(AlertRow).where(AlertRow.slack_team == team))),
            "acks": sorted((a.alert_id, a.user_id, a.withdrawn_at is None) for a in session.scalars(
                select(AcknowledgementRow).where(AcknowledgementRow.team_id == team))),
            "snoozes": sorted((s.id, s.cancelled_at is None) for s in session.scalars(
                select(SnoozeRow).where(SnoozeRow.slack_team == team))),
            "jobs": sorted((j.id, j.kind, j.channel) for j in session.scalars(
                select(JobRow).where(JobRow.team_id == team))),
        }


def test_snooze_cancel_with_a_digit_that_is_not_ascii(multi, fake_slack):
    """``²`` and ``١`` pass ``str.isdigit``; ``int`` refuses the first (a 500) and reads
    the second as 1. Neither is an id anyone typed on purpose."""
    server, worker, app = multi
    install_both(server)
    _alert_with_snooze(server, worker, fake_slack, app, "C0TEAMA", TEAM_A, "U0ALICE")
    with services(app).database.session() as session:
        [snooze] = session.scalars(select(SnoozeRow.id)).all()
    arabic_indic = chr(0x0660 + snooze) if snooze < 10 else "١"
    for word in ("²", arabic_indic, "1_0", "+1", "0x1", "９", " "):
        response = send_command(server, f"snooze cancel {word}", "C0TEAMA", TEAM_A)
        assert response.status_code == 200, (word, response.text)
        assert "No snooze" in response.json()["text"]
    assert str(snooze) in command(server, "snooze list", "C0TEAMA", TEAM_A)


def test_status_shows_only_the_callers_workspace(multi, fake_slack):
    """A channel shared between two organisations: each sees its own alerts there."""
    server, worker, _app = multi
    install_both(server)
    url, token = connect(server, "C0SHARED", TEAM_A)
    assert post_alert(url, token).status_code == 200
    drain(worker)
    assert "Default Page Load Alert Rule" in json.dumps(send_command(
        server, "status", "C0SHARED", TEAM_A).json())
    other = command(server, "status", "C0SHARED", TEAM_B, user_id="U0BETTY")
    assert "No open ThousandEyes alerts" in other


def test_any_text_after_any_command_is_safe(multi, fake_slack):
    server, worker, app = multi
    install_both(server)
    routes = [_alert_with_snooze(server, worker, fake_slack, app, "C0SHARED", TEAM_A, "U0ALICE"),
              _alert_with_snooze(server, worker, fake_slack, app, "C0SHARED", TEAM_B, "U0BETTY")]
    drain(worker)
    with services(app).database.session() as session:
        snoozes = [str(i) for i in session.scalars(select(SnoozeRow.id))]
    # Arbitrary text; the ids that exist (either workspace's), so that examples try to
    # reach across; numbers in ASCII, in other scripts' digits, and in characters that
    # str.isdigit takes for digits although int() refuses them (², ①).
    digit_like = st.characters(categories=["No"]).filter(str.isdigit)
    argument = st.one_of(st.text(max_size=40), st.sampled_from(routes + snoozes),
                         st.integers(-2, 2**70).map(str),
                         st.text(st.characters(categories=["Nd"]), min_size=1, max_size=3),
                         st.text(digit_like, min_size=1, max_size=3))

    def typed(verb: str, team: str, words: list[str], pick: int, channel: str) -> None:
        other = TEAM_B if team == TEAM_A else TEAM_A
        before = _workspace_state(app, other)
        text = " ".join([verb, *words])
        response = send_command(server, text, channel, team, USERS[team][pick])
        assert response.status_code < 500, (text, response.text)
        assert response.status_code == 200, (text, response.text)
        answer = response.json()
        assert answer["response_type"] == "ephemeral"
        assert _workspace_state(app, other) == before, text
        # Nothing of the other workspace's alerts or snoozes shows in the answer.
        assert RULES[other] not in json.dumps(answer), text

    # Every verb, as a member of either workspace: always once in the shared channel
    # with nothing after it, then with arbitrary words, anywhere.
    for verb in VERBS:
        for team in (TEAM_A, TEAM_B):
            @settings(max_examples=4, deadline=None, derandomize=True, database=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture,
                                             HealthCheck.too_slow])
            @given(verb=st.just(verb), team=st.just(team), words=st.lists(argument, max_size=3),
                   pick=st.integers(0, 2), channel=CHANNELS)
            @example(verb=verb, team=team, words=[], pick=1, channel="C0SHARED")
            def typed_as(verb, team, words, pick, channel):
                typed(verb, team, words, pick, channel)

            typed_as()
