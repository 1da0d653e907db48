"""Command line: ``python -m bot serve | worker | db | jobs | oauth | render | send-sample``.

Each subcommand declares, next to its options, its handler and what it needs: the
configuration, and the database opened to read (never migrating) or to write (migrated
first). ``main`` provides them, runs the handler, and turns the errors a user can cause
into one line and an exit code instead of a traceback.
"""

from __future__ import annotations

import argparse
import enum
import logging
import multiprocessing
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from bot.cli.arguments import cannot_listen, http_url, port_number
from bot.cli.pipes import reader_has_gone
from bot.config import Config, ConfigError, as_written, redact_database_url
from bot.config.setup_warnings import log_setup_warnings
from bot.db.diagnose import DatabaseUrlProblem, check_database_url
from bot.process.parent_death import die_with_parent
from bot.thousandeyes.samples import SAMPLES
from bot.version import __version__

if TYPE_CHECKING:
    from flask import Flask

    from bot.db.database import Database

log = logging.getLogger(__name__)

EXIT_USAGE = 2  # a setting or an argument is wrong
EXIT_FAILED = 1  # the command ran and could not do its job


class Needs(str, enum.Enum):
    """What a subcommand needs before its handler runs."""

    NOTHING = "nothing"  # not even the configuration (send-sample talks to a service)
    CONFIG = "config"
    DATABASE_TO_READ = "read"  # opened as it is; a database not migrated is an error
    DATABASE_TO_WRITE = "write"  # migrated to the latest schema first


class CommandFailed(Exception):
    """A known failure: ``main`` prints the message (one line) and exits with the code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line: the full usage of a subcommand wraps over
    several, and the line that says what is wrong gets lost below it."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m bot", description="Slack bot for ThousandEyes alerts"
    )
    parser.add_argument("--version", action="version",
                        version=f"thousandeyes-slack-bot {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = _command(commands, "serve", "run the HTTP server and delivery worker",
                     _serve, Needs.CONFIG)
    serve.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
    serve.add_argument("--port", type=port_number, help="port 1-65535 (default: $PORT, else 3000)")

    worker = _command(commands, "worker", "run only the delivery worker", _worker,
                      Needs.DATABASE_TO_WRITE)
    # How serve's web worker starts its delivery process (bot.process.delivery_child).
    worker.add_argument("--child-of", type=int, metavar="PID", help=argparse.SUPPRESS)
    worker.add_argument("--wakeups-fd", type=int, help=argparse.SUPPRESS)
    worker.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    _command(db_commands, "upgrade", "apply migrations up to the latest", _db_upgrade,
             Needs.DATABASE_TO_WRITE)
    _command(db_commands, "prune", "delete what is older than RETENTION now", _db_prune,
             Needs.DATABASE_TO_WRITE)

    sample = _command(commands, "send-sample", "post a ThousandEyes sample payload",
                      _send_sample, Needs.NOTHING)
    sample.add_argument("name", choices=list(SAMPLES))
    sample.add_argument(
        "--url", type=http_url, default="http://127.0.0.1:3000/webhooks/thousandeyes",
        help="webhook URL of a running service",
    )
    sample.add_argument("--token", help="Bearer token (WEBHOOK_TOKEN of the service)")
    sample.add_argument("--basic", metavar="USER:PASSWORD", help="Basic credentials")
    sample.add_argument(
        "--as-is", action="store_true", help="the knowledge-base payload untouched (default:"
        " a fresh alert dated now, whose clear ends the last trigger sent from here)")
    sample.add_argument("--unique", action="store_true", help=argparse.SUPPRESS)  # the default now

    render = _command(commands, "render", "print the Slack message for a payload",
                      _render, Needs.CONFIG)
    render.add_argument("payload", help="a ThousandEyes webhook payload (JSON file)")
    render.add_argument(
        "--message", choices=["parent", "clear-reply", "ack-note", "retrigger-note",
                              "reminder-note", "storm-rollup", "storm-page"],
        default="parent",
        help="which message of the alert (default: the parent in the channel); storm-rollup"
             " and storm-page show it in a storm of 12 (a page of 50) alerts like it",
    )
    render.add_argument(
        "--state", choices=["triggered", "acknowledged", "cleared"],
        help="the alert's state (default: from the event; acknowledged with --responder)",
    )
    render.add_argument(
        "--responder", metavar="NAME",
        help="someone who acknowledged (a name, or a Slack user id such as U0123ABCD);"
             " without it nobody has",
    )
    _add_jobs_commands(commands)
    _add_oauth_commands(commands)
    return parser


def _command(commands: argparse._SubParsersAction[_Parser], name: str, help_text: str,
             handler: Callable[..., int], needs: Needs) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=help_text)
    parser.set_defaults(handler=handler, needs=needs)
    return parser


def _add_jobs_commands(commands: Any) -> None:
    jobs = commands.add_parser("jobs", help="list and retry delivery jobs")
    job_commands = jobs.add_subparsers(dest="jobs_command", required=True)
    listing = _command(job_commands, "list", "show jobs (newest first)", _jobs_list,
                       Needs.DATABASE_TO_READ)
    listing.add_argument("--dead", action="store_true", help="only dead-lettered jobs")
    listing.add_argument("--limit", type=int, default=50)
    retry = _command(job_commands, "retry", "queue dead jobs again", _jobs_retry,
                     Needs.DATABASE_TO_WRITE)
    target = retry.add_mutually_exclusive_group(required=True)
    target.add_argument("job_id", nargs="?", type=int, help="the job to retry")
    target.add_argument("--all-dead", action="store_true", help="retry every dead job")


def _add_oauth_commands(commands: Any) -> None:
    oauth = commands.add_parser("oauth", help="OAuth clients and tokens for ThousandEyes")
    oauth_commands = oauth.add_subparsers(dest="oauth_command", required=True)
    add = _command(oauth_commands, "add-client", "register a ThousandEyes webhook",
                   _oauth_add, Needs.DATABASE_TO_WRITE)
    add.add_argument("name", help="a name to recognise it by, e.g. 'TE prod alerts'")
    add.add_argument(
        "--confidential", action="store_true",
        help="with a client secret, for custom webhooks (authorization code, client"
             " credentials); without it, a public client for classic webhooks (implicit)",
    )
    add.add_argument("--redirect-uri", action="append", dest="redirect_uris",
                     help="allowed redirect URI (default: ThousandEyes' callbacks)")
    _command(oauth_commands, "list", "show clients", _oauth_list, Needs.DATABASE_TO_READ)
    revoke = _command(oauth_commands, "revoke", "revoke tokens or a whole client",
                      _oauth_revoke, Needs.DATABASE_TO_WRITE)
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--client", help="revoke the client and all its tokens")
    which.add_argument("--token", help="revoke one token")
    which.add_argument("--all-tokens", action="store_true", help="revoke every token")


def configure_logging(level: str, log_format: str = "text") -> None:
    from bot.metrics.logformat import TEXT_FORMAT, use_format

    logging.basicConfig(level=level, format=TEXT_FORMAT, stream=sys.stderr)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if log_format != "text":
        use_format(log_format)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except CommandFailed as failure:
        print(f"error: {failure}", file=sys.stderr)
        return failure.exit_code
    except BrokenPipeError:
        return reader_has_gone()


def _run(args: argparse.Namespace) -> int:
    if args.needs is Needs.NOTHING:
        return int(args.handler(args))
    child_of = getattr(args, "child_of", None)
    if child_of is not None and not die_with_parent(child_of):
        return 0  # serve's web worker died before its delivery process could start
    try:
        config = Config.from_env()
    except ConfigError as error:
        raise CommandFailed(str(error), EXIT_USAGE) from None
    configure_logging(config.log_level, config.log_format)
    if args.needs is Needs.CONFIG:
        return int(args.handler(config, args))
    # serve applied the migrations before it started its delivery processes.
    migrate = args.needs is Needs.DATABASE_TO_WRITE and child_of is None
    database = open_database(config, migrate=migrate)
    try:
        return int(args.handler(config, database, args))
    finally:
        database.dispose()


def open_database(config: Config, *, migrate: bool) -> Database:
    """The one way commands open the database: migrated first, or checked as it is."""
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from bot.db.database import Database, SchemaNotCurrent

    check_url(config)
    where = f"DATABASE_URL={redact_database_url(as_written(config.database_url))}"
    try:
        database = Database(config.database_url, config.sqlite_synchronous)
    except ArgumentError as error:
        raise CommandFailed(f"{where} is not a database URL ({error})", EXIT_USAGE) from None
    try:
        if migrate:
            database.upgrade()
        else:
            database.check_schema()
    except SchemaNotCurrent as error:
        database.dispose()
        raise CommandFailed(str(error)) from None
    except SQLAlchemyError as error:
        database.dispose()
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0][:200]
        hint = "" if database.is_sqlite else (
            " (is the server running, and are its host, port, user and password right?)")
        raise CommandFailed(f"cannot use the database at {where}: {reason}{hint}") from None
    return database


def check_url(config: Config) -> None:
    """A URL that cannot work is one line before anything connects (or creates folders)."""
    try:
        check_database_url(config.database_url, Config.database_url)
    except DatabaseUrlProblem as problem:
        raise CommandFailed(str(problem), EXIT_USAGE) from None


# --- handlers ------------------------------------------------------------------------
# Imported only where they run, so that light commands (send-sample, render) and a
# gunicorn master that does not build the app never load Flask, SQLAlchemy and the rest.


def _serve(config: Config, args: argparse.Namespace) -> int:
    from bot.metrics.multiprocess import prepare_serve
    from bot.process.server import GunicornServer

    config = prepare_serve(config)  # before anything imports prometheus_client
    port = args.port or config.port
    check_url(config)
    problem = cannot_listen(args.host, port, "--port" if args.port else "PORT")
    if problem:
        raise CommandFailed(problem)
    failed = _migrations_failed_in_child(config)
    if failed:
        return failed
    log.info("serving on %s:%s with settings %s", args.host, port, config.describe())
    log_setup_warnings(config)
    GunicornServer(
        lambda: _build_app(config), config, args.host, port,
        on_worker_start=_start_background, on_worker_stop=_stop_background,
    ).run()
    return 0


def _worker(config: Config, database: Database, args: argparse.Namespace) -> int:
    from bot.metrics.multiprocess import use_directory

    use_directory(config)  # before anything imports prometheus_client
    from bot.process.worker import WebWorker, run_worker_forever

    if args.child_of is not None:  # serve's delivery process: serve has said its warnings
        web_worker = WebWorker(args.child_of, args.wakeups_fd, args.ready_fd)
        return run_worker_forever(config, database, web_worker)
    log_setup_warnings(config)
    return run_worker_forever(config, database)


def _db_upgrade(_config: Config, _database: Database, _args: argparse.Namespace) -> int:
    print("database is at the latest migration")
    return 0


def _db_prune(config: Config, database: Database, _args: argparse.Namespace) -> int:
    from bot.cli.prune import prune_command

    return prune_command(config, database)


def _jobs_list(_config: Config, database: Database, args: argparse.Namespace) -> int:
    from bot.cli.jobs import list_jobs_command

    return list_jobs_command(database, args.dead, args.limit)


def _jobs_retry(_config: Config, database: Database, args: argparse.Namespace) -> int:
    from bot.cli.jobs import retry_jobs_command

    return retry_jobs_command(database, None if args.all_dead else args.job_id)


def _oauth_add(config: Config, database: Database, args: argparse.Namespace) -> int:
    from bot.web.oauth_server.admin import add_client_command

    return add_client_command(config, database, args.name, args.redirect_uris, args.confidential)


def _oauth_list(_config: Config, database: Database, _args: argparse.Namespace) -> int:
    from bot.web.oauth_server.admin import list_clients_command

    return list_clients_command(database)


def _oauth_revoke(_config: Config, database: Database, args: argparse.Namespace) -> int:
    from bot.web.oauth_server.admin import revoke_command

    return revoke_command(database, client=args.client, token=args.token)


def _render(config: Config, args: argparse.Namespace) -> int:
    from bot.cli.render import render_command

    return render_command(config, args.payload, args.state, args.message, args.responder)


def _send_sample(args: argparse.Namespace) -> int:
    from bot.cli.send_sample import no_trigger_message, send_sample
    from bot.thousandeyes.samples import NoTriggerToClear

    try:
        status, body = send_sample(
            args.name, args.url, token=args.token, basic=args.basic, as_is=args.as_is
        )
    except NoTriggerToClear:
        raise CommandFailed(no_trigger_message(args.name)) from None
    except OSError as error:
        raise CommandFailed(f"could not reach {args.url}: {error}") from None
    print(f"{status} {body.strip()}")
    return 0 if status == 200 else EXIT_FAILED


def _migrations_failed_in_child(config: Config) -> int:
    """Apply migrations before gunicorn starts, in a child process; the exit code to end
    with when they failed (the child has said why), else 0.

    Not in the worker: gunicorn kills a worker that has not checked in within its 25 s
    timeout, and a slow migration (or a database still waking up) would then be rolled
    back and retried on every boot. Not in the master itself either, which would then
    hold SQLAlchemy and Alembic in memory for nothing.
    """
    child = multiprocessing.get_context("fork").Process(
        target=_upgrade_in_child, args=(config,), name="migrations")
    child.start()
    child.join()
    if child.exitcode in (EXIT_FAILED, EXIT_USAGE):
        return child.exitcode  # it said why, in one line
    if child.exitcode != 0:
        log.error("database migrations failed (exit code %s); not starting", child.exitcode)
        return EXIT_FAILED
    return 0


def _upgrade_in_child(config: Config) -> None:
    try:
        open_database(config, migrate=True).dispose()
    except CommandFailed as failure:
        print(f"error: {failure}", file=sys.stderr)
        sys.exit(failure.exit_code)


def _build_app(config: Config) -> Flask:
    from bot.process.app import create_app

    return create_app(config, migrate=False)  # applied before gunicorn started


def _start_background(app: Flask) -> None:
    from bot.process.background import start_background

    start_background(app)


def _stop_background(app: Flask) -> None:
    from bot.process.background import stop_background

    stop_background(app)
