"""Command line: ``python -m bot serve | worker | db upgrade | send-sample | jobs | render``."""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import sys
from typing import TYPE_CHECKING, Sequence

from bot.config import Config, ConfigError
from bot.thousandeyes.samples import SAMPLES

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot", description="Slack bot for ThousandEyes alerts"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server and delivery worker")
    serve.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
    serve.add_argument("--port", type=int, help="port (default: $PORT, else 3000)")

    commands.add_parser("worker", help="run only the delivery worker")

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply migrations up to the latest")

    sample = commands.add_parser("send-sample", help="post a ThousandEyes sample payload")
    sample.add_argument("name", choices=list(SAMPLES))
    sample.add_argument(
        "--url", default="http://127.0.0.1:3000/webhooks/thousandeyes",
        help="webhook URL of a running service",
    )
    sample.add_argument("--token", help="Bearer token (WEBHOOK_TOKEN of the service)")
    sample.add_argument("--basic", metavar="USER:PASSWORD", help="Basic credentials")
    sample.add_argument(
        "--unique", action="store_true",
        help="give the event a fresh eventId so it is not answered as a duplicate",
    )
    _add_delivery_commands(commands)
    _add_oauth_commands(commands)
    return parser


def _add_delivery_commands(commands: argparse._SubParsersAction) -> None:
    jobs = commands.add_parser("jobs", help="list and retry delivery jobs")
    job_commands = jobs.add_subparsers(dest="jobs_command", required=True)
    listing = job_commands.add_parser("list", help="show jobs (newest first)")
    listing.add_argument("--dead", action="store_true", help="only dead-lettered jobs")
    listing.add_argument("--limit", type=int, default=50)
    retry = job_commands.add_parser("retry", help="queue dead jobs again")
    target = retry.add_mutually_exclusive_group(required=True)
    target.add_argument("job_id", nargs="?", type=int, help="the job to retry")
    target.add_argument("--all-dead", action="store_true", help="retry every dead job")

    render = commands.add_parser("render", help="print the Slack message for a payload")
    render.add_argument("payload", help="a ThousandEyes webhook payload (JSON file)")
    render.add_argument(
        "--state", choices=["triggered", "acknowledged", "cleared"],
        help="render the parent in this state (default: from the event)",
    )


def _add_oauth_commands(commands: argparse._SubParsersAction) -> None:
    oauth = commands.add_parser("oauth", help="OAuth clients and tokens for ThousandEyes")
    oauth_commands = oauth.add_subparsers(dest="oauth_command", required=True)
    add = oauth_commands.add_parser("add-client", help="register a ThousandEyes webhook")
    add.add_argument("name", help="a name to recognise it by, e.g. 'TE prod alerts'")
    add.add_argument(
        "--confidential", action="store_true",
        help="with a client secret, for custom webhooks (authorization code, client"
             " credentials); without it, a public client for classic webhooks (implicit)",
    )
    add.add_argument("--redirect-uri", action="append", dest="redirect_uris",
                     help="allowed redirect URI (default: ThousandEyes' callbacks)")
    oauth_commands.add_parser("list", help="show clients")
    revoke = oauth_commands.add_parser("revoke", help="revoke tokens or a whole client")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--client", help="revoke the client and all its tokens")
    which.add_argument("--token", help="revoke one token")
    which.add_argument("--all-tokens", action="store_true", help="revoke every token")


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "send-sample":
        return _send_sample(args)
    try:
        config = Config.from_env()
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    configure_logging(config.log_level)
    if args.command == "serve":
        return _serve(config, args)
    if args.command == "worker":
        from bot.delivery.runner import run_worker_forever

        return run_worker_forever(config)
    if args.command == "db":
        _upgrade_database(config)
        print("database is at the latest migration")
        return 0
    if args.command == "jobs":
        from bot.delivery.admin import jobs_command

        return jobs_command(config, args)
    if args.command == "oauth":
        from bot.oauth_server.admin import oauth_command

        return oauth_command(config, args)
    if args.command == "render":
        from bot.render_command import render_command

        return render_command(config, args.payload, args.state)
    raise AssertionError(args.command)


def _serve(config: Config, args: argparse.Namespace) -> int:
    from bot.server import GunicornServer

    port = args.port or config.port
    log.info("serving on %s:%s with settings %s", args.host, port, config.describe())
    if not _migrations_applied_in_child(config):
        return 1
    GunicornServer(
        lambda: _build_app(config), config, args.host, port,
        on_worker_start=_start_background, on_worker_stop=_stop_background,
    ).run()
    return 0


def _migrations_applied_in_child(config: Config) -> bool:
    """Apply migrations before gunicorn starts, in a child process.

    Not in the worker: gunicorn kills a worker that has not checked in within its 25 s
    timeout, and a slow migration (or a database still waking up) would then be rolled
    back and retried on every boot. Not in the master itself either, which would then
    hold SQLAlchemy and Alembic in memory for nothing.
    """
    child = multiprocessing.get_context("fork").Process(
        target=_upgrade_database, args=(config,), name="migrations")
    child.start()
    child.join()
    if child.exitcode != 0:
        log.error("database migrations failed (exit code %s); not starting", child.exitcode)
        return False
    return True


def _upgrade_database(config: Config) -> None:
    from bot.store.database import Database

    database = Database(config.database_url, config.sqlite_synchronous)
    try:
        database.upgrade()
    finally:
        database.dispose()


# Imported only where they run, so that a master which does not build the app (one
# worker) never loads Flask, SQLAlchemy and the rest: that memory would be spent twice.
def _build_app(config: Config) -> Flask:
    from bot.app import create_app

    return create_app(config, migrate=False)  # applied before gunicorn started


def _start_background(app: Flask) -> None:
    from bot.background import start_background

    start_background(app)


def _stop_background(app: Flask) -> None:
    from bot.background import stop_background

    stop_background(app)


def _send_sample(args: argparse.Namespace) -> int:
    from bot.send_sample import send_sample

    try:
        status, body = send_sample(
            args.name, args.url, token=args.token, basic=args.basic, unique=args.unique
        )
    except OSError as error:
        print(f"error: could not reach {args.url}: {error}", file=sys.stderr)
        return 1
    print(f"{status} {body.strip()}")
    return 0 if status == 200 else 1
