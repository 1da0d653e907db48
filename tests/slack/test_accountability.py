"""Managing a channel's webhooks and snoozes is accountable: only the person who made a
webhook or snooze, or a workspace admin or owner, may end it; every change is announced
in the channel naming who made it; a channel has at most 20 webhooks.

Two workspaces are installed (tests/support/workspaces.py): nothing typed in one
reaches the other's webhooks or snoozes.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.db.models import AlertRow, RouteRow, SnoozeRow
from bot.render.actions import SNOOZE, encode_snooze_choice
from bot.store.routes import MAX_ROUTES_PER_CHANNEL
from bot.web.services import services
from tests.support.delivery import alert_messages, announcements, drain
from tests.support.slack_requests import choose
from tests.support.workspaces import (
    TEAM_A,
    TEAM_B,
    TOKEN_A,
    command,
    connect,
    install_both,
    post_alert,
)


def route_id_of(url):
    return url.rsplit("/", 1)[-1]


def test_only_the_creator_or_an_admin_may_disconnect(multi, fake_slack):
    server, worker, _app = multi
    install_both(server)
    url, token = connect(server, "C0TEAMA", TEAM_A, user_id="U0ALICE")
    route = route_id_of(url)

    refused = command(server, f"disconnect {route}", "C0TEAMA", TEAM_A, user_id="U0BOB")
    assert "Only <@U0ALICE>" in refused and "admin" in refused
    assert post_alert(url, token, "test").status_code == 200
    # Which admin flags counted comes from Slack, asked with the workspace's own token.
    [lookup] = fake_slack.calls_to("users.info")
    assert lookup.args["user"] == "U0BOB" and lookup.token == TOKEN_A

    # Workspace B's owner, in A's channel (or a channel shared with B), finds nothing.
    for channel in ("C0TEAMA", "C0SHARED"):
        answer = command(server, f"disconnect {route}", channel, TEAM_B, user_id="U0BADMIN")
        assert "No webhook" in answer
    assert post_alert(url, token, "test").status_code == 200

    done = command(server, f"disconnect {route}", "C0TEAMA", TEAM_A, user_id="U0CAROL")
    assert "Disconnected" in done
    assert post_alert(url, token, "test").status_code == 410

    # The creator needs no admin rights for their own webhook, nor a call to Slack.
    url, _token = connect(server, "C0TEAMA", TEAM_A, user_id="U0BOB")
    calls = len(fake_slack.calls_to("users.info"))
    assert "Disconnected" in command(server, f"disconnect {route_id_of(url)}", "C0TEAMA",
                                     TEAM_A, user_id="U0BOB")
    assert len(fake_slack.calls_to("users.info")) == calls


def test_connect_and_disconnect_are_announced_in_the_channel(multi, fake_slack):
    server, worker, _app = multi
    install_both(server)
    url, token = connect(server, "C0TEAMA", TEAM_A, "@here", user_id="U0ALICE")
    route = route_id_of(url)
    command(server, f"disconnect {route}", "C0TEAMA", TEAM_A, user_id="U0CAROL")
    drain(worker)
    connected, disconnected = announcements(fake_slack, "C0TEAMA")
    assert "<@U0ALICE>" in connected and "connected" in connected and route in connected
    assert token not in connected and "<!here>" not in connected  # no ping but the actor's
    assert "<@U0CAROL>" in disconnected and "disconnected" in disconnected
    assert route in disconnected
    # A normal message, posted with the workspace's token; nothing in B's channels.
    posts = fake_slack.calls_to("chat.postMessage", ok_only=True)
    assert {(c.args["channel"], c.token) for c in posts} == {("C0TEAMA", TOKEN_A)}
    assert announcements(fake_slack, "C0TEAMB") == []


def test_a_channel_has_at_most_twenty_webhooks(multi, fake_slack):
    server, _worker, app = multi
    install_both(server)
    for _ in range(MAX_ROUTES_PER_CHANNEL):
        connect(server, "C0TEAMA", TEAM_A)
    refused = command(server, "connect", "C0TEAMA", TEAM_A)
    assert f"already has {MAX_ROUTES_PER_CHANNEL} webhooks" in refused
    assert "Token" not in refused
    with worker_session(app) as session:
        assert session.query(RouteRow).filter_by(channel_id="C0TEAMA").count() == 20
    # Another workspace's channel, and a channel of the same workspace, are counted apart.
    connect(server, "C0TEAMB", TEAM_B, user_id="U0BETTY")
    connect(server, "C0SHARED", TEAM_A)
    # Disconnecting one makes room again.
    listing = command(server, "list", "C0TEAMA", TEAM_A)
    first = listing.split("`")[1]
    assert "Disconnected" in command(server, f"disconnect {first}", "C0TEAMA", TEAM_A)
    connect(server, "C0TEAMA", TEAM_A)


def test_an_admin_check_slack_cannot_answer_refuses(multi, fake_slack):
    """Without the users:read scope (an install made before it was asked for), Slack
    cannot say who is an admin: the webhook stays, and the answer says how to fix it."""
    server, _worker, _app = multi
    install_both(server)
    url, token = connect(server, "C0TEAMA", TEAM_A, user_id="U0ALICE")
    fake_slack.token_scopes[TOKEN_A] = frozenset({"chat:write", "commands"})
    answer = command(server, f"disconnect {route_id_of(url)}", "C0TEAMA", TEAM_A,
                     user_id="U0CAROL")
    assert "users:read" in answer and "reinstall" in answer.lower()
    assert post_alert(url, token, "test").status_code == 200
    # Slack unreachable: refused too, nothing changed.
    fake_slack.token_scopes.pop(TOKEN_A)
    fake_slack.fail("users.info", status=503)
    answer = command(server, f"disconnect {route_id_of(url)}", "C0TEAMA", TEAM_A,
                     user_id="U0CAROL")
    assert "could not check" in answer
    assert post_alert(url, token, "test").status_code == 200


def test_a_webhook_without_a_recorded_creator_is_for_admins_only(multi, fake_slack):
    server, _worker, app = multi
    install_both(server)
    url, token = connect(server, "C0TEAMA", TEAM_A, user_id="U0ALICE")
    with worker_session(app) as session:
        session.query(RouteRow).update({RouteRow.created_by: ""})
    refused = command(server, f"disconnect {route_id_of(url)}", "C0TEAMA", TEAM_A,
                      user_id="U0ALICE")
    assert "Only a workspace admin or owner" in refused
    assert post_alert(url, token, "test").status_code == 200
    assert "Disconnected" in command(server, f"disconnect {route_id_of(url)}", "C0TEAMA",
                                     TEAM_A, user_id="U0CAROL")


def _snoozed_alert(server, worker, fake_slack, app, user_id="U0ALICE"):
    """An alert posted in A's channel, whose rule ``user_id`` snoozed from its menu."""
    url, token = connect(server, "C0TEAMA", TEAM_A)
    assert post_alert(url, token).status_code == 200
    drain(worker)
    [parent] = alert_messages(fake_slack, "C0TEAMA")
    with worker_session(app) as session:
        alert_id = session.scalars(select(AlertRow.id)).one()
    response = choose(server.url, SNOOZE, encode_snooze_choice(alert_id, 4), user_id=user_id,
                      user_name=user_id[3:].lower(), channel_id="C0TEAMA", message_ts=parent.ts,
                      team_id=TEAM_A)
    assert response.status_code == 200
    drain(worker)
    with worker_session(app) as session:
        return session.scalars(select(SnoozeRow.id)).one()


def test_only_the_snoozer_or_an_admin_may_cancel_a_snooze(multi, fake_slack):
    server, worker, app = multi
    install_both(server)
    snooze = _snoozed_alert(server, worker, fake_slack, app, user_id="U0ALICE")

    refused = command(server, f"snooze cancel {snooze}", "C0TEAMA", TEAM_A, user_id="U0BOB")
    assert "Only <@U0ALICE>" in refused
    for channel in ("C0TEAMA", "C0SHARED"):
        other = command(server, f"snooze cancel {snooze}", channel, TEAM_B, user_id="U0BADMIN")
        assert "No snooze" in other
    assert "No snoozes" in command(server, "snooze list", "C0TEAMA", TEAM_B, user_id="U0BADMIN")
    assert str(snooze) in command(server, "snooze list", "C0TEAMA", TEAM_A, user_id="U0BOB")

    assert "Cancelled" in command(server, f"snooze cancel {snooze}", "C0TEAMA", TEAM_A,
                                  user_id="U0CAROL")
    drain(worker)
    *_, snoozed, cancelled = announcements(fake_slack, "C0TEAMA")
    assert "<@U0ALICE>" in snoozed and "snoozed" in snoozed
    assert "Default Page Load Alert Rule" in snoozed
    assert "<@U0CAROL>" in cancelled and "<@U0ALICE>" in cancelled
    assert "cancelled" in cancelled


def test_the_snoozer_cancels_their_own_snooze(multi, fake_slack):
    server, worker, app = multi
    install_both(server)
    snooze = _snoozed_alert(server, worker, fake_slack, app, user_id="U0BOB")
    assert "Cancelled" in command(server, f"snooze cancel {snooze}", "C0TEAMA", TEAM_A,
                                  user_id="U0BOB")
    assert fake_slack.calls_to("users.info") == []


def worker_session(app):
    return services(app).database.session()
