"""The consent form as a browser submits it: explicit action, parameters once, CSRF, and
a password lockout per client address that every process shares."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import requests

from bot.clock import utcnow
from bot.config import THOUSANDEYES_OAUTH_CALLBACKS, Config
from bot.process.app import create_app
from bot.store import lockout
from bot.store.lockout import Guarded
from bot.web.oauth_server import clients, consent as consent_module
from bot.web.services import services
from tests.support.consent_form import consent_form, submit
from tests.support.servers import LiveServer

ADMIN_PASSWORD = "correct horse battery staple"
CALLBACK = THOUSANDEYES_OAUTH_CALLBACKS[0]
ATTACKER = {"X-Forwarded-For": "203.0.113.5"}
ADMIN = {"X-Forwarded-For": "198.51.100.7"}


def _config(database_url):
    # Behind one proxy (Heroku's router), which names the client in X-Forwarded-For.
    return Config(database_url=database_url, oauth_admin_password=ADMIN_PASSWORD,
                  trusted_proxy_hops=1, delivery_threads=0)


@pytest.fixture
def served(database_url):
    app = create_app(_config(database_url))
    database = services(app).database
    client_id, _ = clients.add_client(database, "TE classic", THOUSANDEYES_OAUTH_CALLBACKS,
                                      confidential=False, now=utcnow())
    params = {"response_type": "token", "client_id": client_id, "redirect_uri": CALLBACK,
              "state": "s-1"}
    with LiveServer(app) as server:
        yield server, params
    database.dispose()


def open_page(server, params, headers=None):
    session = requests.Session()
    session.headers.update(headers or {})
    page = session.get(server.url + "/oauth/authorize", params=params, timeout=10)
    assert page.status_code == 200, page.text
    return session, page


def test_form_posts_to_the_path_with_each_parameter_once(served):
    server, params = served
    session, page = open_page(server, params)
    form = consent_form(page)
    action = urlsplit(form.action)
    assert action.path == "/oauth/authorize" and action.query == ""
    names = [name for name, _ in form.fields]
    assert len(names) == len(set(names))
    assert set(params) <= set(names)
    approved = submit(session, page, admin_password=ADMIN_PASSWORD, decision="approve")
    assert approved.status_code == 302
    assert "access_token=" in urlsplit(approved.headers["Location"]).fragment


def test_the_form_needs_its_csrf_token_and_cookie(served):
    server, params = served
    session, page = open_page(server, params)
    cookie = next(c for c in session.cookies if c.name == "te_consent")
    assert cookie.path == "/oauth/authorize"
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert "samesite=strict" in page.headers["Set-Cookie"].lower()
    fields = consent_form(page).fields
    typed = [("admin_password", ADMIN_PASSWORD), ("decision", "approve")]
    without_token = [(k, v) for k, v in fields if k != "csrf_token"] + typed
    tampered = [(k, v + "x" if k == "csrf_token" else v) for k, v in fields] + typed
    other_client = [(k, "te-" + "0" * 24 if k == "client_id" else v) for k, v in fields] + typed
    for data in (without_token, tampered):
        answer = session.post(server.url + "/oauth/authorize", data=data, timeout=10,
                              allow_redirects=False)
        assert answer.status_code == 403 and "Location" not in answer.headers
    # Another site can post the same fields, but not with this browser's cookie.
    forged = requests.post(server.url + "/oauth/authorize", data=fields + typed, timeout=10,
                           allow_redirects=False)
    assert forged.status_code == 403 and "Location" not in forged.headers
    # A token is good for the parameters it was issued with only.
    answer = session.post(server.url + "/oauth/authorize", data=other_client, timeout=10,
                          allow_redirects=False)
    assert answer.status_code == 400  # unknown client: refused before the token is read
    denied = submit(session, page, decision="deny")
    assert denied.status_code == 302 and "error=access_denied" in denied.headers["Location"]


def test_wrong_passwords_slow_down_that_address_only(served, monkeypatch):
    server, params = served
    session, page = open_page(server, params, ATTACKER)
    answers = []
    for attempt in range(lockout.FREE_ATTEMPTS + 1):
        answers.append(submit(session, page, admin_password=f"guess-{attempt}",
                              decision="approve"))
        page = answers[-1]
    assert [a.status_code for a in answers[:lockout.FREE_ATTEMPTS]] == [403] * lockout.FREE_ATTEMPTS
    assert "Retry-After" in answers[lockout.FREE_ATTEMPTS - 1].headers
    locked = answers[-1]
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1
    assert "Too many wrong passwords" in locked.text
    # The administrator, elsewhere, is not held up at all.
    admin_session, admin_page = open_page(server, params, ADMIN)
    approved = submit(admin_session, admin_page, admin_password=ADMIN_PASSWORD,
                      decision="approve")
    assert approved.status_code == 302
    # Once the delay has passed (the app's clock moved past it), the address may try again.
    delay = timedelta(seconds=int(locked.headers["Retry-After"]) + 1)
    with monkeypatch.context() as later:
        later.setattr(consent_module, "utcnow", lambda: utcnow() + delay)
        again = submit(session, locked, admin_password="guess-again", decision="approve")
    assert again.status_code == 403


def test_every_process_sees_the_same_lockout(database_url, served):
    server, params = served
    other_app = create_app(_config(database_url))  # another process's app: its own engine
    with LiveServer(other_app) as other:
        session, page = open_page(server, params, ATTACKER)
        for attempt in range(lockout.FREE_ATTEMPTS):
            page = submit(session, page, admin_password=f"guess-{attempt}", decision="approve")
        other_session, other_page = open_page(other, params, ATTACKER)
        refused = submit(other_session, other_page, admin_password=ADMIN_PASSWORD,
                         decision="approve")
        assert refused.status_code == 429
    services(other_app).database.dispose()


def test_a_forged_address_cannot_lock_out_the_administrator(database_url):
    """Two trusted proxies, and an attacker who sends one X-Forwarded-For entry of their
    own, naming the administrator's address: the guesses count against the attacker's
    socket address, and the administrator, through both proxies, approves."""
    app = create_app(_config(database_url).with_overrides(trusted_proxy_hops=2))
    database = services(app).database
    client_id, _ = clients.add_client(database, "TE classic", THOUSANDEYES_OAUTH_CALLBACKS,
                                      confidential=False, now=utcnow())
    params = {"response_type": "token", "client_id": client_id, "redirect_uri": CALLBACK,
              "state": "s-2"}
    try:
        with LiveServer(app) as server:
            session, page = open_page(server, params, ADMIN)  # one entry: forged
            for attempt in range(lockout.FREE_ATTEMPTS + 1):
                page = submit(session, page, admin_password=f"guess-{attempt}",
                              decision="approve")
            assert page.status_code == 429
            through_both = {"X-Forwarded-For": f"{ADMIN['X-Forwarded-For']}, 10.0.0.1"}
            admin_session, admin_page = open_page(server, params, through_both)
            approved = submit(admin_session, admin_page, admin_password=ADMIN_PASSWORD,
                              decision="approve")
            assert approved.status_code == 302
    finally:
        database.dispose()


@pytest.mark.parametrize("guarded", list(Guarded))
def test_the_delay_grows_and_is_forgotten(database, guarded):
    now = utcnow()
    waits = []
    for _ in range(lockout.FREE_ATTEMPTS + 12):
        waits.append(lockout.record_failure(database, guarded, "203.0.113.9", now).wait)
        now += timedelta(seconds=1)
    seconds = [w.total_seconds() for w in waits]
    assert seconds[:lockout.FREE_ATTEMPTS - 1] == [0] * (lockout.FREE_ATTEMPTS - 1)
    growing = seconds[lockout.FREE_ATTEMPTS - 1:]
    assert growing[:5] == [1, 2, 4, 8, 16]
    assert growing == sorted(growing) and max(growing) == lockout.MAX_DELAY.total_seconds()
    assert lockout.current_lockout(database, guarded, "203.0.113.9", now).locked
    assert not lockout.current_lockout(database, guarded, "203.0.113.10", now).locked
    # Each secret is counted apart: guessing one does not lock the other.
    [other] = [g for g in Guarded if g is not guarded]
    assert not lockout.current_lockout(database, other, "203.0.113.9", now).locked
    later = now + lockout.FORGET_AFTER + timedelta(seconds=1)
    assert lockout.record_failure(database, guarded, "203.0.113.9", later).wait == timedelta(0)
    lockout.record_success(database, guarded, "203.0.113.9")
    assert not lockout.current_lockout(database, guarded, "203.0.113.9", later).locked


def test_ipv6_addresses_count_by_their_64():
    assert lockout.client_key("2001:db8:1:2::1") == lockout.client_key("2001:db8:1:2:ffff::9")
    assert lockout.client_key("2001:db8:1:3::1") != lockout.client_key("2001:db8:1:2::1")
    assert lockout.client_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert lockout.client_key("not an address") == "unknown"
