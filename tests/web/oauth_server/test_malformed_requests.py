"""Malformed OAuth parameters from anyone are a 400 (or Authlib's 401 for a client it
cannot authenticate), never a 500 and never a redirect."""

from __future__ import annotations

import base64
from urllib.parse import urlencode

import pytest

from bot.clock import utcnow
from bot.config import THOUSANDEYES_OAUTH_CALLBACKS, Config
from bot.process.app import create_app
from bot.web.body_limits import OTHER_MAX_BODY_BYTES
from bot.web.oauth_server import clients
from bot.web.services import services

CALLBACK = THOUSANDEYES_OAUTH_CALLBACKS[0]


@pytest.fixture
def oauth_app(database_url):
    app = create_app(Config(database_url=database_url, delivery_threads=0,
                            oauth_admin_password="correct horse battery staple"))
    client_id, _ = clients.add_client(services(app).database, "TE", THOUSANDEYES_OAUTH_CALLBACKS,
                                      confidential=False, now=utcnow())
    yield app, client_id
    services(app).database.dispose()


def _bad_authorize_requests(client_id):
    good = {"response_type": "token", "client_id": client_id, "redirect_uri": CALLBACK}
    yield "redirect_uri ends in a newline", dict(good, redirect_uri=CALLBACK + "\n")
    yield "header injection", dict(good, redirect_uri=CALLBACK + "\r\nSet-Cookie: x=1")
    yield "NUL in client_id", dict(good, client_id=client_id + "\x00")
    yield "NUL alone", dict(good, client_id="\x00")
    yield "huge state", dict(good, state="s" * 100_000)
    yield "control character in state", dict(good, state="a\x07b")
    yield "tab in scope", dict(good, scope="webhook\tx")
    yield "unknown response_type", dict(good, response_type="id_token\n")
    yield "megabyte client id", dict(good, client_id="te-" + "a" * 1_000_000)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_malformed_authorize_parameters_are_400(oauth_app, method):
    app, client_id = oauth_app
    client = app.test_client()
    for why, params in _bad_authorize_requests(client_id):
        expected = 400
        if method == "GET":
            answer = client.get("/oauth/authorize", query_string=params)
        else:
            form = dict(params, admin_password="correct horse battery staple", decision="approve")
            if len(urlencode(form)) > OTHER_MAX_BODY_BYTES:
                expected = 413  # refused before it is read
            answer = client.post("/oauth/authorize", data=form)
        assert answer.status_code == expected, (why, answer.status_code)
        assert "Location" not in answer.headers, why
        if expected == 400:
            assert "Cannot authorize" in answer.get_data(as_text=True), why


def test_a_parameter_given_twice_is_400(oauth_app):
    app, client_id = oauth_app
    answer = app.test_client().get(
        f"/oauth/authorize?response_type=token&client_id={client_id}&client_id={client_id}"
        f"&redirect_uri={CALLBACK}")
    assert answer.status_code == 400 and "more than once" in answer.get_data(as_text=True)


@pytest.mark.parametrize("data,auth", [
    ({"grant_type": "client_credentials", "client_id": "\x00", "client_secret": "x"}, None),
    ({"grant_type": "client_credentials\n"}, None),
    ({"grant_type": "authorization_code", "code": "c\r\n", "redirect_uri": CALLBACK}, None),
    ({"grant_type": "client_credentials"}, b"\x00:secret"),
    ({"grant_type": "client_credentials"}, b"te-" + b"a" * 100_000 + b":secret"),
    ({"grant_type": "client_credentials"}, b"\xff\xfe:\xff"),
    ({"grant_type": "password", "username": "u", "password": "p"}, None),
])
def test_malformed_token_requests_are_4xx_json(oauth_app, data, auth):
    app, _ = oauth_app
    headers = {}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(auth).decode()
    answer = app.test_client().post("/oauth/token", data=data, headers=headers)
    assert answer.status_code in (400, 401), (data, answer.status_code)
    assert answer.is_json and answer.json["error"]
