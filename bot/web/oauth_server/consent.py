"""The consent page ThousandEyes opens at ``/oauth/authorize``, as a browser uses it.

GET shows the page; the form posts back to the path alone (an explicit ``action``), with
the OAuth parameters as hidden fields once each: a form without ``action`` posted to the
URL with its query string, and the parameters arrived twice (Authlib answered 400
"Multiple 'response_type'"). Approve needs the administrator password; Deny sends
ThousandEyes ``access_denied``. Both need the form's CSRF token (``csrf``); wrong
passwords slow down the address that sent them (``lockout``).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from flask import Response, current_app, make_response, render_template_string, request, url_for
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.datastructures import MultiDict

from bot.clock import utcnow
from bot.store.lockout import Guarded, Verdict, check_password
from bot.web.oauth_server.csrf import COOKIE, MAX_AGE, ConsentForms
from bot.web.oauth_server.server import ServiceAdmin, oauth_server
from bot.web.services import services

log = logging.getLogger(__name__)

OAUTH_PARAMS = ("response_type", "client_id", "redirect_uri", "scope", "state")
TOKEN_PARAMS = ("grant_type", "code", "redirect_uri", "client_id", "client_secret", "scope")
_FORM_FIELDS = ("admin_password", "decision", "csrf_token")
MAX_PARAMETER_LENGTH = 2000
# RFC 6749 allows only printable ASCII in these (VSCHAR, NQCHAR, URI characters), and
# Authlib refuses anything else in the error descriptions it builds from them.
_NOT_PRINTABLE_ASCII = re.compile(r"[^\x20-\x7e]")

_CONSENT_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Authorize ThousandEyes</title>
<style>body{font-family:sans-serif;max-width:32em;margin:3em auto;padding:0 1em}
input,button{font-size:1em;padding:.4em}.error{color:#b00}</style></head>
<body><h1>Authorize {{ client_name }}</h1>
<p><b>{{ client_name }}</b> asks for a token to post ThousandEyes alerts to this service.
It will be valid for {{ days }} days.</p>
{% if error %}<p class="error" id="error">{{ error }}</p>{% endif %}
<form method="post" action="{{ action }}">
{% for key, value in params %}<input type="hidden" name="{{ key }}" value="{{ value }}">
{% endfor %}<input type="hidden" name="csrf_token" value="{{ csrf_token }}">
<p><label>Administrator password<br><input type="password" name="admin_password"
 id="admin_password" autocomplete="current-password" autofocus></label></p>
<p><button type="submit" name="decision" value="approve" id="approve">Approve</button>
<button type="submit" name="decision" value="deny" id="deny">Deny</button></p>
</form></body></html>"""

_ERROR_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Cannot authorize</title>
</head><body><h1>Cannot authorize</h1><p>{{ message }}</p></body></html>"""


def malformed_parameter(sources: Sequence[MultiDict[str, str]], names: Sequence[str],
                        form_fields: Sequence[str] = ()) -> str | None:
    """Why these OAuth parameters cannot be right, or None.

    Checked before Authlib sees them: Authlib put a redirect_uri with a newline into its
    error description, which refused it with a ValueError (a 500). The form's own fields
    (the password may hold any character) need only come once and be of sane length.
    """
    for name in (*names, *form_fields):
        values = [value for source in sources for value in source.getlist(name)]
        if len(values) > 1:
            return f"'{name}' is given more than once"
        if values and len(values[0]) > MAX_PARAMETER_LENGTH:
            return f"'{name}' is longer than {MAX_PARAMETER_LENGTH} characters"
        if values and name in names and _NOT_PRINTABLE_ASCII.search(values[0]):
            return f"'{name}' holds characters other than printable ASCII"
    return None


def authorize() -> Response | tuple[str, int]:
    server = oauth_server()
    if server is None:
        return _error_page("OAuth is off: set OAUTH_ADMIN_PASSWORD to enable it.", 404)
    problem = malformed_parameter((request.args, request.form), OAUTH_PARAMS, _FORM_FIELDS)
    if problem is not None:
        log.warning("OAuth authorize refused: %s", problem)
        return _error_page(problem, 400)
    try:
        grant = server.get_consent_grant(end_user=None)
    except OAuth2Error as error:
        # Never redirect an invalid request: the redirect URI itself may be the problem.
        log.warning("OAuth authorize refused: %s", error.error)
        return _error_page(error.description or error.error, 400)
    params = [(key, request.values[key]) for key in OAUTH_PARAMS if key in request.values]
    try:
        if request.method == "GET":
            return _consent_page(grant.client.name, params)
        return _decide(server, grant, params)
    except SQLAlchemyError as error:
        log.error("OAuth consent: database unavailable (%s)", error.__class__.__name__)
        return _error_page("The service's database is unavailable; try again shortly.", 503)


def _decide(server: AuthorizationServer, grant: Any,
            params: list[tuple[str, str]]) -> Response | tuple[str, int]:
    client = grant.client
    forms = _consent_forms()
    now = utcnow()
    if not forms.valid(request.cookies.get(COOKIE), request.form.get("csrf_token"), params, now):
        log.warning("OAuth consent for %s refused: no valid CSRF token", client.get_client_id())
        return _consent_page(client.name, params, status=403, error=(
            "This form has expired or was not sent from this page. Try again."))
    decision = request.form.get("decision")
    if decision == "deny":
        log.info("OAuth consent denied for client %s", client.get_client_id())
        denied: Response = server.create_authorization_response(grant=grant, grant_user=None)
        return denied
    if decision != "approve":
        return _error_page("Choose Approve or Deny.", 400)

    check = check_password(
        services(current_app).database, Guarded.ADMIN_PASSWORD, request.remote_addr,
        request.form.get("admin_password", ""),
        services(current_app).config.oauth_admin_password or "", now)
    if check.verdict is Verdict.MUST_WAIT:
        log.warning("OAuth consent refused: %s must wait %.0f s after wrong passwords",
                    check.key, check.wait.total_seconds())
        return _consent_page(client.name, params, status=429, retry_after=check.wait,
                             error="Too many wrong passwords from your address.")
    if check.verdict is Verdict.WRONG:
        log.warning("OAuth consent for %s refused: wrong administrator password from %s",
                    client.get_client_id(), check.key)
        return _consent_page(client.name, params, status=403, error="Wrong password.",
                             retry_after=check.wait or None)
    log.info("OAuth consent approved for client %s", client.get_client_id())
    granted: Response = server.create_authorization_response(grant=grant, grant_user=ServiceAdmin())
    return granted


def _consent_page(client_name: str, params: list[tuple[str, str]], *, status: int = 200,
                  error: str | None = None, retry_after: timedelta | None = None) -> Response:
    """The page with a fresh CSRF token, and its nonce in a cookie for this path only."""
    forms = _consent_forms()
    nonce, token = forms.issue(params, utcnow(), request.cookies.get(COOKIE))
    seconds = math.ceil(retry_after.total_seconds()) if retry_after is not None else None
    if error and seconds:
        error += f" Wait {seconds} seconds before the next try."
    config = services(current_app).config
    action = url_for("oauth.authorize")
    response = make_response(render_template_string(
        _CONSENT_PAGE, client_name=client_name, days=config.oauth_token_lifetime // 86400,
        params=params, csrf_token=token, action=action, error=error), status)
    response.set_cookie(COOKIE, nonce, max_age=MAX_AGE, path=action, httponly=True,
                        samesite="Strict", secure=request.is_secure)
    if seconds:
        response.headers["Retry-After"] = str(seconds)
    return response


def _error_page(message: str, status: int) -> tuple[str, int]:
    return render_template_string(_ERROR_PAGE, message=message), status


def _consent_forms() -> ConsentForms:
    forms = services(current_app).consent_forms
    assert forms is not None, "the consent page runs only with the OAuth server on"
    return forms
