"""``/admin``: the last events in detail, for the administrator who signs in with
``OAUTH_ADMIN_PASSWORD`` over a CSRF-safe form, slowed down after wrong passwords like
the consent page (the same password, the same count per address)."""

from __future__ import annotations

import pytest
import requests

from bot.clock import utcnow
from bot.config import Config
from bot.process.app import create_app
from bot.store import lockout
from bot.store.lockout import Guarded
from bot.store.routes import RouteOptions, create_route
from bot.web.services import services
from tests.conftest import WEBHOOK_TOKEN
from tests.support.consent_form import consent_form, submit
from tests.support.payloads import load_sample, sample_event
from tests.support.servers import LiveServer

ADMIN_PASSWORD = "correct horse battery staple"
ATTACKER = {"X-Forwarded-For": "203.0.113.5"}
ADMIN = {"X-Forwarded-For": "198.51.100.7"}


def settings(database_url: str) -> Config:
    return Config(database_url=database_url, webhook_token=WEBHOOK_TOKEN,
                  oauth_admin_password=ADMIN_PASSWORD, trusted_proxy_hops=1,
                  delivery_threads=0)


@pytest.fixture
def served(database_url):
    app = create_app(settings(database_url))
    database = services(app).database
    with LiveServer(app) as server:
        trigger = sample_event("trigger", ruleName="Payments <b>latency</b> rule")
        assert requests.post(server.url + "/webhooks/thousandeyes?channel=C0PAYMENTS",
                             json=trigger, headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"},
                             timeout=10).status_code == 200
        route, token = create_route(database, team_id="T0B", channel_id="C0TEAMB",
                                    created_by="U0BOB", options=RouteOptions(), now=utcnow())
        assert requests.post(f"{server.url}/webhooks/thousandeyes/{route.id}",
                             json=load_sample("agent-trigger"),
                             headers={"Authorization": f"Bearer {token}"},
                             timeout=10).status_code == 200
        yield server, database
    database.dispose()


def open_admin(server, headers=None) -> tuple[requests.Session, requests.Response]:
    session = requests.Session()
    session.headers.update(headers or {})
    page = session.get(server.url + "/admin", timeout=10)
    assert page.status_code == 200 and 'id="admin_password"' in page.text
    return session, page


def test_the_administrator_signs_in_and_sees_what_the_events_were_about(served):
    server, _database = served
    session, page = open_admin(server, ADMIN)
    assert "Payments" not in page.text  # nothing before signing in
    signed_in = submit(session, page, admin_password=ADMIN_PASSWORD)
    assert signed_in.status_code == 303 and signed_in.headers["Location"].endswith("/admin")
    cookie = signed_in.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/admin" in cookie
    details = session.get(server.url + "/admin", timeout=10)
    assert details.headers["Cache-Control"] == "no-store"
    assert details.headers["X-Frame-Options"] == "DENY"
    text = details.text
    assert "Payments &lt;b&gt;latency&lt;/b&gt; rule" in text  # escaped, not markup
    assert "http://www.thousandeyes111.com" in text and "C0PAYMENTS" in text
    assert "Packet1" in text and "C0TEAMB" in text and "T0B" in text
    # Signing out ends it; the cookie alone no longer opens the page.
    out = submit(session, details)
    assert out.status_code == 303
    assert 'id="admin_password"' in session.get(server.url + "/admin", timeout=10).text


def test_a_form_not_sent_from_the_page_is_refused(served):
    server, _database = served
    session, page = open_admin(server, ADMIN)
    form = consent_form(page)
    forged = requests.post(form.action, data={"admin_password": ADMIN_PASSWORD,
                                              "csrf_token": dict(form.fields)["csrf_token"]},
                           headers=ADMIN, timeout=10, allow_redirects=False)
    assert forged.status_code == 403  # the token without the browser's cookie
    assert "te_admin=" not in forged.headers.get("Set-Cookie", "")
    no_token = session.post(form.action, data={"admin_password": ADMIN_PASSWORD},
                            timeout=10, allow_redirects=False)
    assert no_token.status_code == 403


def test_wrong_passwords_slow_that_address_and_count_with_the_consent_page(served):
    server, database = served
    session, page = open_admin(server, ATTACKER)
    for attempt in range(lockout.FREE_ATTEMPTS):
        page = submit(session, page, admin_password=f"guess-{attempt}")
        assert page.status_code == 403 and "Wrong password" in page.text
    locked = submit(session, page, admin_password=ADMIN_PASSWORD)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1
    assert "Too many wrong passwords" in locked.text
    key = lockout.client_key(ATTACKER["X-Forwarded-For"])
    assert lockout.current_lockout(database, Guarded.ADMIN_PASSWORD, key, utcnow()).locked
    # The administrator, elsewhere, signs in at once.
    admin_session, admin_page = open_admin(server, ADMIN)
    assert submit(admin_session, admin_page, admin_password=ADMIN_PASSWORD).status_code == 303


def test_a_new_password_signs_everyone_out(database_url, served):
    server, _database = served
    session, page = open_admin(server, ADMIN)
    assert submit(session, page, admin_password=ADMIN_PASSWORD).status_code == 303
    changed = create_app(settings(database_url).with_overrides(
        oauth_admin_password="another long password"))
    try:
        with LiveServer(changed) as restarted:
            cookies = {"te_admin": session.cookies.get("te_admin")}
            page = requests.get(restarted.url + "/admin", cookies=cookies, headers=ADMIN,
                                timeout=10)
            assert 'id="admin_password"' in page.text and "Packet1" not in page.text
    finally:
        services(changed).database.dispose()


def test_sign_in_is_off_without_an_administrator_password(database_url):
    app = create_app(Config(database_url=database_url, delivery_threads=0))
    try:
        with LiveServer(app) as server:
            page = requests.get(server.url + "/admin", timeout=10)
            assert page.status_code == 404 and "OAUTH_ADMIN_PASSWORD" in page.text
            posted = requests.post(server.url + "/admin/sign-in",
                                   data={"admin_password": "anything at all"}, timeout=10)
            assert posted.status_code == 404
    finally:
        services(app).database.dispose()
