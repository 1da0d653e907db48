"""``GET /healthz``: 200 when the app and its database answer and take a write, and
delivery is making progress; 503 otherwise, saying which part is down.

"Delivery is stuck" is read from the database (``bot.outbox.snapshot``): a job has been due
for ``DELIVERY_STUCK_AFTER`` and no process claimed, finished or retried one meanwhile, so
it is true whichever process (this one, another web worker, ``python -m bot worker``)
should have delivered. Socket Mode's state is reported but never makes a 503: the
websocket reconnects by itself, and a load balancer that dropped this instance for it
would refuse webhooks too (``thousandeyes_socket_mode_connected`` is the thing to alert on).
A bot token Slack refuses is the ``slack`` value, for the same reason (bot.slack.token_check).
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, jsonify
from sqlalchemy.exc import SQLAlchemyError

from bot.clock import utcnow
from bot.config import SlackMode
from bot.db.models import JobStatus
from bot.outbox.snapshot import read_queue
from bot.web.front_page import api_line
from bot.web.services import Services, services

blueprint = Blueprint("health", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)


def _slack_state(app_services: Services) -> str:
    """``log-only``, ``configured``, ``ok`` (Slack accepts SLACK_BOT_TOKEN) or the code it
    refuses the token with. A refused token is no 503: webhooks are still stored."""
    if app_services.config.slack_mode is SlackMode.LOG_ONLY:
        return "log-only"
    check = app_services.bot_token_check
    return check.refresh() if check is not None else "configured"


@blueprint.route("/healthz", methods=["GET"])
def healthz() -> tuple[Response, int]:
    app_services = services(current_app)
    now = utcnow()
    database = app_services.database.health(now)
    config = app_services.config
    body: dict[str, object] = {
        "status": "ok" if database.ok else "unavailable",
        "database": database.state,
        "slack": _slack_state(app_services),
    }
    problems = [f"database: {database.problem}"] if database.problem else []
    if database.ok:
        try:
            queue = read_queue(app_services.database, now, config.delivery_stuck_after)
        except SQLAlchemyError as error:
            body["delivery"] = "unknown"
            problems.append(f"delivery: the outbox cannot be read ({error.__class__.__name__})")
        else:
            body["delivery"] = "stuck" if queue.stuck else "ok"
            body["queue"] = {
                "pending": queue.count(JobStatus.PENDING), "due": queue.due,
                "running": queue.count(JobStatus.RUNNING), "dead": queue.count(JobStatus.DEAD),
                "oldest_due_seconds": round(queue.oldest_due_wait, 1),
            }
            stuck_after = config.delivery_stuck_after
            if queue.stuck and stuck_after is not None:
                problems.append(
                    f"delivery: {queue.due} job(s) due, the oldest for"
                    f" {queue.oldest_due_wait:.0f}s, and none claimed or finished in the last"
                    f" {stuck_after.total_seconds():.0f}s; is a delivery worker running?")
    else:
        body["delivery"] = "unknown"
    line = api_line(app_services) if database.ok else None
    if line is not None:
        # Said, never a 503: webhooks flow whatever the API does.
        body["thousandeyes_api"] = line
    if config.slack_app_token:  # the websocket's own state: "configured" says nothing of it
        body["socket_mode"] = app_services.socket_mode.state or "off"
    if problems:
        body["status"] = "unavailable"
        body["problem"] = "; ".join(problems)
    return jsonify(body), 503 if problems or not database.ok else 200

