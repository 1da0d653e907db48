"""``/admin``: the last events in detail, for the administrator who signs in.

The front page is public, so it shows when events arrived and of which type, never what
they were about. Rule, test and agent names, channels and workspaces are here, behind
``OAUTH_ADMIN_PASSWORD`` (the password that approves the OAuth consent page; without it
sign-in is off). The sign-in form carries the consent page's signed CSRF token
(``bot.web.oauth_server.csrf``) with its nonce in a cookie, and wrong passwords count
against the address that sent them together with the consent page's
(``bot.store.lockout``, the same password). A sign-in is a signed cookie
(``bot.web.admin_session``) for this path only.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
)
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response as BaseResponse  # what redirect() gives

from bot.clock import utcnow
from bot.db.models import AlertRow, EventRow, RouteRow
from bot.store.lockout import Guarded, Verdict, check_password
from bot.web.admin_session import (
    COOKIE as SESSION_COOKIE,
    MAX_AGE as SESSION_MAX_AGE,
    AdminSessions,
)
from bot.web.oauth_server.csrf import MAX_AGE as FORM_MAX_AGE
from bot.web.oauth_server.routes import no_framing_no_caching
from bot.web.services import services

log = logging.getLogger(__name__)

blueprint = Blueprint("admin", __name__, template_folder="templates")

PATH = "/admin"
FORM_COOKIE = "te_admin_form"
RECENT_EVENTS = 50
# What each form's CSRF token is bound to: a sign-in token cannot sign out, nor approve
# an OAuth consent (whose tokens are bound to its OAuth parameters).
_SIGN_IN_FORM = [("form", "admin-sign-in")]
_SIGN_OUT_FORM = [("form", "admin-sign-out")]


@dataclass(frozen=True)
class EventDetail:
    received_at: datetime
    event_type: str
    event_id: str
    alert: str
    channel: str
    workspace: str
    route: str


# A page with a password field and alert names: never framed, never cached.
blueprint.after_request(no_framing_no_caching)


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)


@blueprint.route(PATH, methods=["GET"])
def admin() -> Response | tuple[str, int]:
    sessions = services(current_app).admin_sessions
    if sessions is None:
        return _sign_in_off()
    try:
        if sessions.valid(request.cookies.get(SESSION_COOKIE), _password(), utcnow()):
            return _form_page("admin.html", _SIGN_OUT_FORM, events=recent_event_details())
        return _form_page("admin.html", _SIGN_IN_FORM)
    except SQLAlchemyError as error:
        return _database_unavailable(error)


@blueprint.route(PATH + "/sign-in", methods=["POST"])
def sign_in() -> BaseResponse | tuple[str, int]:
    sessions = services(current_app).admin_sessions
    if sessions is None:
        return _sign_in_off()
    try:
        return _sign_in(sessions)
    except SQLAlchemyError as error:
        return _database_unavailable(error)


@blueprint.route(PATH + "/sign-out", methods=["POST"])
def sign_out() -> BaseResponse | tuple[str, int]:
    if services(current_app).admin_sessions is None:
        return _sign_in_off()
    try:
        if not _form_is_genuine(_SIGN_OUT_FORM):
            return _form_page("admin.html", _SIGN_IN_FORM, status=403, error=(
                "This form has expired or was not sent from this page."))
    except SQLAlchemyError as error:
        return _database_unavailable(error)
    response = redirect(PATH, code=303)
    response.delete_cookie(SESSION_COOKIE, path=PATH)
    return response


def _sign_in(sessions: AdminSessions) -> BaseResponse:
    now = utcnow()
    if not _form_is_genuine(_SIGN_IN_FORM):
        log.warning("admin sign-in refused: no valid CSRF token")
        return _form_page("admin.html", _SIGN_IN_FORM, status=403, error=(
            "This form has expired or was not sent from this page. Try again."))
    check = check_password(services(current_app).database, Guarded.ADMIN_PASSWORD,
                           request.remote_addr, request.form.get("admin_password", ""),
                           _password(), now)
    if check.verdict is Verdict.MUST_WAIT:
        log.warning("admin sign-in refused: %s must wait %.0f s after wrong passwords",
                    check.key, check.wait.total_seconds())
        return _form_page("admin.html", _SIGN_IN_FORM, status=429, retry_after=check.wait,
                          error="Too many wrong passwords from your address.")
    if check.verdict is Verdict.WRONG:
        log.warning("admin sign-in refused: wrong password from %s", check.key)
        return _form_page("admin.html", _SIGN_IN_FORM, status=403, error="Wrong password.",
                          retry_after=check.wait or None)
    log.info("administrator signed in from %s", check.key)
    response = redirect(PATH, code=303)
    response.set_cookie(SESSION_COOKIE, sessions.issue(_password(), now),
                        max_age=SESSION_MAX_AGE, path=PATH, httponly=True, samesite="Strict",
                        secure=request.is_secure)
    return response


def _form_is_genuine(form: list[tuple[str, str]]) -> bool:
    forms = services(current_app).consent_forms
    return forms is not None and forms.valid(
        request.cookies.get(FORM_COOKIE), request.form.get("csrf_token"), form, utcnow())


def _form_page(template: str, form: list[tuple[str, str]], *, status: int = 200,
               error: str | None = None, retry_after: timedelta | None = None,
               events: list[EventDetail] | None = None) -> Response:
    """The page with its one form's fresh CSRF token, the nonce in a cookie for /admin."""
    forms = services(current_app).consent_forms
    assert forms is not None, "sign-in runs only with the OAuth server on"
    nonce, token = forms.issue(form, utcnow(), request.cookies.get(FORM_COOKIE))
    seconds = math.ceil(retry_after.total_seconds()) if retry_after is not None else None
    if error and seconds:
        error += f" Wait {seconds} seconds before the next try."
    response = make_response(render_template(
        template, signed_in=form is _SIGN_OUT_FORM, csrf_token=token, error=error,
        events=events or []), status)
    response.set_cookie(FORM_COOKIE, nonce, max_age=FORM_MAX_AGE, path=PATH, httponly=True,
                        samesite="Strict", secure=request.is_secure)
    if seconds:
        response.headers["Retry-After"] = str(seconds)
    return response


def recent_event_details() -> list[EventDetail]:
    """The latest events received, newest first, with what they were about."""
    statement = (
        select(EventRow.received_at, EventRow.event_type, EventRow.event_id, EventRow.route,
               EventRow.channel, AlertRow.rule_name, AlertRow.title, AlertRow.alert_key,
               AlertRow.slack_channel, AlertRow.slack_team, RouteRow.team_id)
        .outerjoin(AlertRow, EventRow.alert_id == AlertRow.id)
        .outerjoin(RouteRow, EventRow.route == RouteRow.id)
        .order_by(EventRow.id.desc()).limit(RECENT_EVENTS)
    )
    with services(current_app).database.session() as session:
        rows = session.execute(statement).all()
    return [EventDetail(
        received_at=row.received_at, event_type=row.event_type, event_id=row.event_id,
        alert=" · ".join(p for p in (row.rule_name, row.title) if p) or (row.alert_key or ""),
        channel=row.slack_channel or row.channel or "", workspace=row.slack_team or row.team_id
        or "", route=row.route) for row in rows]


def _password() -> str:
    return services(current_app).config.oauth_admin_password or ""


def _sign_in_off() -> tuple[str, int]:
    return render_template("admin_off.html"), 404


def _database_unavailable(error: SQLAlchemyError) -> tuple[str, int]:
    log.error("admin page: database unavailable (%s)", error.__class__.__name__)
    return render_template("admin_off.html", unavailable=True), 503
