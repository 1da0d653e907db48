"""The webhook over real HTTP against a real database (SQLite, or PostgreSQL in CI)."""

from __future__ import annotations

import base64
import json

import pytest
import requests
from sqlalchemy import func, select

from bot.config import Config
from bot.db.models import AlertRow, EventRow, JobKind, JobRow
from bot.process.app import create_app
from bot.web.services import services
from tests.conftest import WEBHOOK_TOKEN
from tests.support.payloads import SAMPLES, load_sample, load_variant, sample_event
from tests.support.servers import LiveServer

AUTH = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}


def post(server, payload, *, path="/webhooks/thousandeyes", headers=AUTH, **kwargs):
    data = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
    return requests.post(server.url + path, data=data, headers=headers,
                         allow_redirects=False, timeout=10, **kwargs)


def count(database, model):
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def rows(database, model):
    with database.session() as session:
        return list(session.scalars(select(model).order_by(model.id)))


@pytest.mark.parametrize("name", list(SAMPLES))
def test_every_sample_is_accepted_and_queued(live_server, database, name):
    payload = load_sample(name)
    response = post(live_server, payload)
    assert response.status_code == 200
    assert response.json() == {"status": "accepted", "eventId": payload["eventId"]}
    [event] = rows(database, EventRow)
    assert event.event_type == payload["eventType"]
    assert json.loads(event.payload) == payload  # the raw payload is kept
    [job] = rows(database, JobRow)
    assert job.status == "pending" and job.event_pk == event.id


def test_trigger_then_clear_share_one_alert_row(live_server, database):
    assert post(live_server, load_sample("trigger")).status_code == 200
    assert post(live_server, load_sample("clear")).status_code == 200
    [alert] = rows(database, AlertRow)
    assert (alert.kind, alert.alert_key, alert.state) == ("test", "35541", "cleared")
    assert alert.rule_name == "Default Page Load Alert Rule"
    assert alert.title == "http://www.thousandeyes111.com"
    assert alert.trigger_count == 1
    assert alert.cleared_at.isoformat() == "2014-08-24T01:09:51+00:00"
    assert alert.triggered_at.isoformat() == "2014-08-24T01:01:47+00:00"
    assert alert.slack_ts is None  # delivery fills it
    assert [j.kind for j in rows(database, JobRow)] == [JobKind.ALERT_TRIGGER, JobKind.ALERT_CLEAR]
    assert all(j.alert_id == alert.id for j in rows(database, JobRow))


def test_agent_alert_trigger_and_clear(live_server, database):
    assert post(live_server, load_sample("agent-trigger")).status_code == 200
    payload = load_sample("agent-clear")
    payload["agentAlert"]["agentNotificationId"] = 5744505  # the trigger's notification
    assert post(live_server, payload).status_code == 200
    [alert] = rows(database, AlertRow)
    assert (alert.kind, alert.alert_key, alert.state) == ("agent", "5744505", "cleared")
    assert alert.title == "cluster-agent2"


def test_variants_seen_in_the_wild(live_server, database):
    for name in ("alert_trigger_uuid_zoned_labels", "alert_clear_uuid_zoned",
                 "agent_alert_as_alert_notification", "unknown_event_type"):
        assert post(live_server, load_variant(name)).status_code == 200, name
    alerts = rows(database, AlertRow)
    assert [(a.kind, a.alert_key, a.state, a.severity) for a in alerts] == [
        ("test", "0e4b7a52-8c1f-4d3e-9b7a-5f0c2d1e8a63", "cleared", "MAJOR"),
        ("agent", "43587:25694", "triggered", None),
    ]
    unknown = [j for j in rows(database, JobRow) if j.kind == JobKind.UNKNOWN_EVENT]
    assert len(unknown) == 1 and unknown[0].alert_id is None


def test_clear_with_no_earlier_trigger_creates_a_cleared_alert(live_server, database):
    assert post(live_server, load_sample("clear")).status_code == 200
    [alert] = rows(database, AlertRow)
    assert alert.state == "cleared" and alert.trigger_count == 0
    assert [j.kind for j in rows(database, JobRow)] == [JobKind.ALERT_CLEAR]


def test_repeated_event_id_is_a_duplicate_and_stores_nothing_more(live_server, database):
    payload = load_sample("trigger")
    assert post(live_server, payload).json()["status"] == "accepted"
    again = post(live_server, payload)
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate", "eventId": "49-35541"}
    assert (count(database, EventRow), count(database, AlertRow), count(database, JobRow)) == (1, 1, 1)


def test_second_trigger_with_new_event_id_counts_as_retrigger(live_server, database):
    payload = load_sample("trigger")
    post(live_server, payload)
    payload["eventId"] = "49-35541-b"
    post(live_server, payload)
    [alert] = rows(database, AlertRow)
    assert alert.trigger_count == 2
    assert count(database, JobRow) == 2


def test_trigger_retried_after_its_clear_does_not_reopen_the_alert(live_server, database):
    post(live_server, load_sample("clear"))
    late = load_sample("trigger")
    assert post(live_server, late).json()["status"] == "accepted"
    [alert] = rows(database, AlertRow)
    assert alert.state == "cleared"
    assert count(database, EventRow) == 2 and count(database, JobRow) == 1


def test_channel_override_is_stored_and_separates_alerts(live_server, database):
    payload = load_sample("trigger")
    assert post(live_server, payload, path="/webhooks/thousandeyes?channel=C0ALERTS1").status_code == 200
    assert post(live_server, payload, path="/webhooks/thousandeyes?channel=%23net-ops").status_code == 200
    assert post(live_server, payload, path="/webhooks/thousandeyes?channel=net-ops").json()["status"] == "duplicate"
    assert [a.channel for a in rows(database, AlertRow)] == ["C0ALERTS1", "#net-ops"]
    assert [j.channel for j in rows(database, JobRow)] == ["C0ALERTS1", "#net-ops"]


@pytest.mark.parametrize("value", ["", "bad channel!", "x" * 200])
def test_bad_channel_argument_is_a_400(live_server, value):
    response = post(live_server, load_sample("test"), path=f"/webhooks/thousandeyes?channel={value}")
    assert response.status_code == 400
    assert "channel" in response.json()["message"]


def test_trailing_slash_is_served_without_redirect(live_server, database):
    response = post(live_server, load_sample("test"), path="/webhooks/thousandeyes/")
    assert response.status_code == 200 and response.json()["status"] == "accepted"
    assert count(database, EventRow) == 1


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", ["/webhooks/thousandeyes", "/webhooks/thousandeyes/"])
def test_other_methods_get_405_json(live_server, method, path):
    response = requests.request(method, live_server.url + path, headers=AUTH,
                                allow_redirects=False, timeout=10)
    assert response.status_code == 405
    assert "POST" in response.json()["message"]
    assert "POST" in response.headers["Allow"]


@pytest.mark.parametrize(
    "body, message",
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"eventId": "1"}', "'eventType' is missing"),
        (b'{"eventType": "ALERT_NOTIFICATION_TRIGGER", "eventId": "1"}', "'alert' object"),
        (b"", "not valid JSON"),
        (b"[" * 100_000, "not valid JSON"),
    ],
)
def test_bad_bodies_get_400_with_a_reason_and_store_nothing(live_server, database, body, message):
    response = post(live_server, body)
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert count(database, EventRow) == 0


def test_body_over_the_limit_is_413(live_server, database):
    payload = load_sample("trigger")
    payload["padding"] = "x" * (1024 * 1024)
    response = post(live_server, payload)
    assert response.status_code == 413
    assert "WEBHOOK_MAX_BODY_BYTES" in response.json()["message"]
    assert count(database, EventRow) == 0
    # The service keeps working after refusing it.
    assert post(live_server, load_sample("test")).status_code == 200


def from_address(number, headers):
    """``headers`` sent from an address of its own (through one trusted proxy): each
    wrong credential below is a first guess, answered 401, not slowed down by the
    others (tests/web/test_webhook_lockout.py)."""
    return {**headers, "X-Forwarded-For": f"192.0.2.{number}"}


@pytest.fixture
def behind_proxy(database_url):
    """The service behind one trusted proxy, so a test can speak from several addresses."""
    app = create_app(Config(database_url=database_url, webhook_token=WEBHOOK_TOKEN,
                            trusted_proxy_hops=1, delivery_threads=0))
    with LiveServer(app) as server:
        yield server, services(app).database
    services(app).database.dispose()


def test_bearer_auth_refuses_wrong_and_missing_tokens(behind_proxy):
    live_server, database = behind_proxy
    for number, headers in enumerate((
            {}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic Zm9vOmJhcg=="},
            {"Authorization": f"Bearer {WEBHOOK_TOKEN}x"})):
        response = post(live_server, load_sample("test"), headers=from_address(number, headers))
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["error"] == "unauthorized"
    assert count(database, EventRow) == 0
    assert post(live_server, load_sample("test")).status_code == 200


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_basic_auth(database_url):
    config = Config(database_url=database_url, webhook_basic_auth=("te", "s3cr:et"),
                    trusted_proxy_hops=1, delivery_threads=0)
    app = create_app(config)
    try:
        with LiveServer(app) as server:
            assert post(server, load_sample("test"), headers=basic("te", "s3cr:et")).status_code == 200
            for number, headers in enumerate((basic("te", "wrong"), basic("other", "s3cr:et"), {},
                                              {"Authorization": "Basic !!!notbase64"})):
                response = post(server, load_sample("trigger"),
                                headers=from_address(number, headers))
                assert response.status_code == 401
                assert response.headers["WWW-Authenticate"].startswith("Basic")
    finally:
        services(app).database.dispose()


def test_open_endpoint_warns_loudly(database_url, caplog):
    app = create_app(Config(database_url=database_url, delivery_threads=0))
    try:
        assert "WEBHOOK ENDPOINT IS OPEN" in caplog.text
        response = app.test_client().post("/webhooks/thousandeyes", json=load_sample("test"))
        assert response.status_code == 200
    finally:
        services(app).database.dispose()


def test_healthz(live_server):
    response = requests.get(live_server.url + "/healthz", timeout=10)
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok", "database": "ok", "slack": "log-only", "delivery": "ok",
        "queue": {"pending": 0, "due": 0, "running": 0, "dead": 0, "oldest_due_seconds": 0.0},
    }


@pytest.mark.parametrize(
    "body, status",
    [
        ('{"eventType": "WEBHOOK_TEST", "eventId": "1", "n": ' + "9" * 5000 + "}", 400),
        ('{"eventType": "WEBHOOK_TEST", "eventId": "1", "n": NaN}', 400),
        ('{"eventType": "WEBHOOK_TEST", "eventId": "1", "n": -Infinity}', 400),
        (json.dumps({"eventType": "X" * 101, "eventId": "1"}), 400),
        (json.dumps({"eventType": "AGENT_ALERT_NOTIFICATION_TRIGGER", "eventId": "1",
                     "agentAlert": {"agentRuleId": "r" * 150, "agentId": "a" * 150}}), 400),
        (json.dumps({"type": 10 ** 400, "alert": {"id": "a1"}}), 400),
        # Odd values in optional fields lose nothing: the alert is accepted.
        (json.dumps(sample_event("trigger", dateStart=10 ** 400)), 200),
        (json.dumps(sample_event("trigger", dateStart="0001-01-01T00:00:00+01:00")), 200),
        (json.dumps(sample_event("trigger", testName="nul\u0000inside", ruleName="\u0000")), 200),
    ],
)
def test_odd_input_never_gets_a_500(live_server, database, body, status):
    response = post(live_server, body.encode())
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert ("message" in response.json()) == (status != 200)


def test_non_ascii_basic_credentials_are_a_401(database_url):
    app = create_app(Config(database_url=database_url, webhook_basic_auth=("te", "pw"),
                            delivery_threads=0))
    try:
        response = app.test_client().post("/webhooks/thousandeyes", json=load_sample("test"),
                                          headers={"Authorization": "Basic é"})
        assert response.status_code == 401
        bare = app.test_client().post("/webhooks/thousandeyes", json=load_sample("test"),
                                      headers={"Authorization": "s3cr3t-token-sent-bare"})
        assert bare.status_code == 401
        assert "s3cr3t" not in bare.get_data(as_text=True)  # a token is never echoed
    finally:
        services(app).database.dispose()


def test_repeated_clear_queues_no_second_reply(live_server, database):
    post(live_server, load_sample("trigger"))
    post(live_server, load_sample("clear"))
    again = load_sample("clear")
    again["eventId"] = "49-35546-rule-deleted"
    assert post(live_server, again).json()["status"] == "accepted"
    assert [j.kind for j in rows(database, JobRow)] == [JobKind.ALERT_TRIGGER, JobKind.ALERT_CLEAR]


def test_multi_workspace_mode_points_the_default_route_to_connect(database_url):
    app = create_app(Config(database_url=database_url, slack_client_id="1.2",
                            slack_client_secret="s", slack_signing_secret="x",
                            webhook_token=WEBHOOK_TOKEN, delivery_threads=0))
    try:
        response = app.test_client().post("/webhooks/thousandeyes", json=load_sample("test"),
                                          headers=AUTH)
        assert response.status_code == 404
        assert "/thousandeyes connect" in response.json["message"]
    finally:
        services(app).database.dispose()
