"""Each ThousandEyes OAuth flow end to end: authorize, consent, token, then a webhook."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from bot.clock import utcnow
from bot.config import THOUSANDEYES_OAUTH_CALLBACKS, Config
from bot.process import app as app_module
from bot.process.app import create_app
from bot.web.oauth_server import clients
from bot.web.services import services
from tests.support.consent_form import submit
from tests.support.payloads import load_sample
from tests.support.servers import LiveServer

ADMIN_PASSWORD = "correct horse battery staple"
CALLBACK = THOUSANDEYES_OAUTH_CALLBACKS[0]


@pytest.fixture
def oauth(database_url):
    config = Config(database_url=database_url, oauth_admin_password=ADMIN_PASSWORD,
                    delivery_threads=0)
    app = create_app(config)
    with LiveServer(app) as server:
        yield server, services(app).database
    services(app).database.dispose()


def webhook(server, token):
    return requests.post(server.url + "/webhooks/thousandeyes",
                         data=json.dumps(load_sample("test")),
                         headers={"Authorization": f"Bearer {token}"}, timeout=10)


def consent(server, params, password=ADMIN_PASSWORD, decision="approve", headers=None):
    """Open the consent page and submit its form as a browser does."""
    with requests.Session() as session:
        session.headers.update(headers or {})
        page = session.get(server.url + "/oauth/authorize", params=params, timeout=10,
                           allow_redirects=False)
        assert page.status_code == 200, page.text
        assert "Administrator password" in page.text
        return submit(session, page, admin_password=password, decision=decision)


def test_implicit_grant_for_classic_webhooks(oauth):
    server, database = oauth
    client_id, _ = clients.add_client(database, "TE classic", THOUSANDEYES_OAUTH_CALLBACKS,
                                      confidential=False, now=utcnow())
    answer = consent(server, {"response_type": "token", "client_id": client_id,
                              "redirect_uri": CALLBACK, "state": "te-state"})
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    fragment = parse_qs(location.fragment)
    assert fragment["state"] == ["te-state"] and fragment["token_type"] == ["Bearer"]
    assert int(fragment["expires_in"][0]) == 365 * 86400
    token = fragment["access_token"][0]
    assert webhook(server, token).status_code == 200
    assert webhook(server, token + "x").status_code == 401


def approved_code(server, database):
    """A confidential client, and a code the administrator approved for it (no state)."""
    client_id, secret = clients.add_client(database, "TE custom", THOUSANDEYES_OAUTH_CALLBACKS,
                                           confidential=True, now=utcnow())
    answer = consent(server, {"response_type": "code", "client_id": client_id,
                              "redirect_uri": CALLBACK})
    assert answer.status_code == 302
    return client_id, secret, parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]


def test_authorization_code_grant_without_state(oauth):
    server, database = oauth
    client_id, secret, code = approved_code(server, database)
    exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
    issued = requests.post(server.url + "/oauth/token", data=exchange, auth=(client_id, secret),
                           timeout=10)
    assert issued.status_code == 200, issued.text
    token = issued.json()["access_token"]
    assert webhook(server, token).status_code == 200
    # A code works once.
    again = requests.post(server.url + "/oauth/token", data=exchange, auth=(client_id, secret),
                          timeout=10)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_client_credentials_grant(oauth):
    server, database = oauth
    client_id, secret = clients.add_client(database, "TE custom", THOUSANDEYES_OAUTH_CALLBACKS,
                                           confidential=True, now=utcnow())
    issued = requests.post(server.url + "/oauth/token", timeout=10,
                           data={"grant_type": "client_credentials", "client_id": client_id,
                                 "client_secret": secret})
    assert issued.status_code == 200, issued.text
    assert webhook(server, issued.json()["access_token"]).status_code == 200
    wrong = requests.post(server.url + "/oauth/token", timeout=10,
                          data={"grant_type": "client_credentials"}, auth=(client_id, "nope"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"


def test_wrong_client_and_wrong_redirect_are_refused_without_redirecting(oauth):
    server, database = oauth
    client_id, _ = clients.add_client(database, "TE classic", THOUSANDEYES_OAUTH_CALLBACKS,
                                      confidential=False, now=utcnow())
    for params in (
        {"response_type": "token", "client_id": "te-unknown", "redirect_uri": CALLBACK},
        {"response_type": "token", "client_id": client_id, "redirect_uri": "https://evil.example/cb"},
        {"response_type": "code", "client_id": client_id, "redirect_uri": CALLBACK},  # public client
    ):
        answer = requests.get(server.url + "/oauth/authorize", params=params, timeout=10,
                              allow_redirects=False)
        assert answer.status_code == 400 and "Location" not in answer.headers, params
        posted = requests.post(server.url + "/oauth/authorize", params=params, timeout=10,
                               data={"admin_password": ADMIN_PASSWORD, "decision": "approve"},
                               allow_redirects=False)
        assert posted.status_code == 400 and "Location" not in posted.headers


def test_consent_needs_the_admin_password(oauth):
    server, database = oauth
    client_id, _ = clients.add_client(database, "TE classic", THOUSANDEYES_OAUTH_CALLBACKS,
                                      confidential=False, now=utcnow())
    params = {"response_type": "token", "client_id": client_id, "redirect_uri": CALLBACK}
    refused = consent(server, params, password="guess")
    assert refused.status_code == 403 and "Location" not in refused.headers
    denied = consent(server, params, decision="deny")
    assert denied.status_code == 302
    assert "error=access_denied" in denied.headers["Location"]
    assert "access_token" not in denied.headers["Location"]


def test_expired_and_revoked_tokens_are_refused(database_url, monkeypatch):
    config = Config(database_url=database_url, oauth_admin_password=ADMIN_PASSWORD,
                    oauth_token_lifetime=1, delivery_threads=0)
    app = create_app(config)
    database = services(app).database
    client_id, secret = clients.add_client(database, "TE", THOUSANDEYES_OAUTH_CALLBACKS,
                                           confidential=True, now=utcnow())
    with LiveServer(app) as server:
        def new_token():
            return requests.post(server.url + "/oauth/token", timeout=10, auth=(client_id, secret),
                                 data={"grant_type": "client_credentials"}).json()["access_token"]

        short = new_token()
        assert webhook(server, short).status_code == 200
        with monkeypatch.context() as later:  # the app's clock, past the 1 s lifetime
            later.setattr(app_module, "utcnow", lambda: utcnow() + timedelta(seconds=2))
            assert webhook(server, short).status_code == 401  # expired

        revoked = new_token()
        assert clients.revoke_tokens(database, utcnow(), token=revoked) == 1
        assert webhook(server, revoked).status_code == 401
        kept = new_token()
        assert clients.revoke_client(database, client_id, utcnow())
        assert webhook(server, kept).status_code == 401  # the whole client is gone
        refused = requests.post(server.url + "/oauth/token", timeout=10, auth=(client_id, secret),
                                data={"grant_type": "client_credentials"})
        assert refused.status_code == 401
    database.dispose()


def test_tokens_are_stored_hashed(oauth):
    server, database = oauth
    client_id, secret = clients.add_client(database, "TE", THOUSANDEYES_OAUTH_CALLBACKS,
                                           confidential=True, now=utcnow())
    token = requests.post(server.url + "/oauth/token", timeout=10, auth=(client_id, secret),
                          data={"grant_type": "client_credentials"}).json()["access_token"]
    from sqlalchemy import text

    with database.engine.connect() as connection:
        dump = str(connection.execute(text("SELECT * FROM oauth_tokens")).all())
        dump += str(connection.execute(text("SELECT * FROM oauth_clients")).all())
    assert token not in dump and secret not in dump


def test_oauth_cli_adds_lists_and_revokes(database_url, tmp_path):
    from tests.support.processes import bot_env, run_bot

    env = bot_env(DATABASE_URL=database_url, PUBLIC_URL="https://bot.example.com")
    added = run_bot("oauth", "add-client", "TE prod", "--confidential", env=env, cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    assert "Auth URL:      https://bot.example.com/oauth/authorize" in added.stdout
    client_id = added.stdout.split("Client ID:", 1)[1].split()[0]
    listing = run_bot("oauth", "list", env=env, cwd=tmp_path)
    assert client_id in listing.stdout and "confidential" in listing.stdout
    revoked = run_bot("oauth", "revoke", "--client", client_id, env=env, cwd=tmp_path)
    assert revoked.returncode == 0 and "revoked client" in revoked.stdout
    assert "revoked" in run_bot("oauth", "list", env=env, cwd=tmp_path).stdout


def test_consent_page_cannot_be_framed_nor_cached(oauth):
    server, database = oauth
    client_id, _ = clients.add_client(database, "TE classic", THOUSANDEYES_OAUTH_CALLBACKS,
                                      confidential=False, now=utcnow())
    params = {"response_type": "token", "client_id": client_id, "redirect_uri": CALLBACK}
    page = requests.get(server.url + "/oauth/authorize", params=params, timeout=10)
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cache-Control"] == "no-store"


def test_one_code_racing_twice_yields_one_token(oauth):
    from concurrent.futures import ThreadPoolExecutor

    server, database = oauth
    client_id, secret, code = approved_code(server, database)
    exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}

    def redeem(_):
        return requests.post(server.url + "/oauth/token", data=exchange,
                             auth=(client_id, secret), timeout=10).status_code

    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(redeem, range(4)))
    assert statuses == [200, 400, 400, 400]
