"""`visage server run|init-db|create-user|create-token`: run and administer the central server.

Settings (database, secret key...) come from the environment and `VISAGE_CONFIG`, as for the WSGI
entry point; see `server/config.py`. Exit code 2 with one sentence for input to fix (unknown role,
email taken, database not initialised or unreachable).
"""

from __future__ import annotations

import argparse
import getpass
import os
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from visage.subcommands import device_token, ingest, worker
from visage.subcommands.errors import CommandError

if TYPE_CHECKING:
    from flask import Flask
    from sqlalchemy.orm import Session

    from server.db.models import User

ROLES = ("admin", "instructor", "album_user", "student")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("server", help="run and administer the central server")
    commands = parser.add_subparsers(dest="command", metavar="ACTION", required=True)

    run = commands.add_parser("run", help="development server (applies pending migrations first)")
    run.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    run.add_argument("--port", type=int, default=5000, help="port (default: 5000)")
    run.add_argument("--debug", action="store_true", help="debugger and reloader (never in production)")
    run.add_argument("--no-migrate", action="store_true", help="do not upgrade the database schema first")
    run.set_defaults(handler=run_server)

    init_db = commands.add_parser("init-db", help="create or upgrade the schema (alembic upgrade head)")
    init_db.set_defaults(handler=run_init_db)

    user = commands.add_parser("create-user", help="create an account")
    user.add_argument("--email", required=True)
    user.add_argument("--name", required=True, help="display name")
    user.add_argument("--role", required=True, help=f"one of {', '.join(ROLES)}")
    secret = user.add_mutually_exclusive_group()
    secret.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of stdin"
    )
    secret.add_argument(
        "--no-password", action="store_true", help="no password sign-in (an account for API tokens only)"
    )
    user.set_defaults(handler=run_create_user)

    reset = commands.add_parser(
        "set-password", help="set an account's password (ends every session of the account)"
    )
    reset.add_argument("--email", required=True)
    reset.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of stdin"
    )
    reset.set_defaults(handler=run_set_password, no_password=False)

    token = commands.add_parser("create-token", help="create an API token for an account (printed once)")
    token.add_argument("--email", required=True, help="the account the token acts as")
    token.add_argument("--name", required=True, help="what the token is for, e.g. 'camera room 101'")
    token.add_argument("--expires-days", type=int, default=None, help="expire after this many days")
    token.set_defaults(handler=run_create_token)

    ingest.register_action(commands)
    worker.register_action(commands)
    device_token.register_action(commands)


def load_app(create: bool = False, keep_secret: bool = True) -> Flask:
    """The configured app. Unless `create` (init-db, run), a SQLite database file that does not exist
    is refused first, before anything is written: connecting would leave an empty file behind.
    `keep_secret=False` (commands that sign nothing) uses a throwaway secret key, so that none is
    generated into the instance folder either."""
    try:
        from server.app import create_app
        from server.config import ConfigError
    except ImportError as exc:
        raise CommandError(
            f"the server's dependencies are missing ({exc.name}): pip install -e '.[server]'"
        ) from exc
    try:
        if not create:
            require_database_file()
        return create_app(None if keep_secret else {"SECRET_KEY": secrets.token_hex(32)})
    except ConfigError as exc:
        raise CommandError(str(exc)) from exc


def require_database_file() -> None:
    """Refuse a SQLite database that does not exist, naming the file and how to get one, without
    creating anything (the settings are read as the app would read them)."""
    from sqlalchemy.engine import make_url

    from server.config import default_instance_path, load_config

    url = make_url(load_config(default_instance_path())["DATABASE_URL"])
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    path = Path(url.database)
    if not path.is_file():
        raise CommandError(
            f"there is no database at {path}: run `visage server init-db` first, or point "
            "VISAGE_INSTANCE_PATH (the demo's is instance/demo) or DATABASE_URL at an existing one"
        )


def masked_url(app: Flask) -> str:
    from sqlalchemy.engine import make_url

    return make_url(app.config["DATABASE_URL"]).render_as_string(hide_password=True)


@contextmanager
def database_errors(app: Flask) -> Iterator[None]:
    """Turn an unreachable database into one sentence instead of a traceback."""
    from sqlalchemy.exc import OperationalError

    try:
        yield
    except OperationalError as exc:
        reason = str(exc.orig).strip() or type(exc.orig).__name__
        raise CommandError(f"cannot use the database at {masked_url(app)}: {reason}") from exc


def require_schema(app: Flask) -> None:
    from server.db import get_db
    from server.db.migrate import is_up_to_date

    if not is_up_to_date(get_db(app).engine):
        raise CommandError(
            f"the database at {masked_url(app)} is not initialised or not up to date: "
            "run `visage server init-db` first"
        )


def run_init_db(args: argparse.Namespace) -> int:
    from server.db import get_db
    from server.db.migrate import current_revision, upgrade

    app = load_app(create=True)
    with database_errors(app):
        upgrade(app.config["DATABASE_URL"])
        revision = current_revision(get_db(app).engine)
    print(f"database {masked_url(app)} is at revision {revision} (head)")
    return 0


def run_server(args: argparse.Namespace) -> int:
    from server.db.migrate import upgrade

    app = load_app(create=not args.no_migrate)
    if not args.no_migrate:
        with database_errors(app):
            upgrade(app.config["DATABASE_URL"])
    print(f"Visage server on http://{args.host}:{args.port}/ (database {masked_url(app)})", file=sys.stderr)
    if not args.debug or os.environ.get("WERKZEUG_RUN_MAIN"):  # the reloader's parent serves nothing
        from server import jobs
        from server.logs import configure_logging

        configure_logging(app)
        jobs.start(app)
    app.run(host=args.host, port=args.port, debug=args.debug, use_reloader=args.debug)
    return 0


def read_password(args: argparse.Namespace) -> str | None:
    if args.no_password:
        return None
    if args.password_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise CommandError("--password-stdin read an empty password: pipe the password on stdin")
        return line
    if not sys.stdin.isatty():
        raise CommandError("no password given: use --password-stdin (and pipe it), or run in a terminal")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password again: "):
        raise CommandError("the two passwords differ: run the command again")
    return first


def run_create_user(args: argparse.Namespace) -> int:
    from server.auth.accounts import AccountError, create_user, parse_role
    from server.auth.passwords import passwords
    from server.db import get_db

    try:
        role = parse_role(args.role)  # before asking for a password that would be wasted
    except AccountError as exc:
        raise CommandError(str(exc)) from exc
    password = read_password(args)
    app = load_app(keep_secret=False)
    with database_errors(app):
        require_schema(app)
        with get_db(app).session() as session:
            try:
                user = create_user(
                    session,
                    passwords(app),
                    email=args.email,
                    display_name=args.name,
                    role=role,
                    password=password,
                )
            except AccountError as exc:
                raise CommandError(str(exc)) from exc
            print(f"created {user.role.value} account {user.email} (id {user.id})")
    return 0


@contextmanager
def account_session(email: str, missing: str = "") -> Iterator[tuple[Flask, Session, User]]:
    """The app, a database session and the account with `email`, or exit 2 naming the email."""
    from server.auth.accounts import find_user
    from server.db import get_db

    app = load_app(keep_secret=False)
    with database_errors(app):
        require_schema(app)
        with get_db(app).session() as session:
            user = find_user(session, email)
            if user is None:
                raise CommandError(f"no account with email {email.strip().lower()}{missing}")
            yield app, session, user


def run_set_password(args: argparse.Namespace) -> int:
    """An administrator's reset (a forgotten password, a leaked one): signed-in copies are ended."""
    from server.audit import record
    from server.auth.accounts import AccountError, set_password
    from server.auth.passwords import passwords

    password = read_password(args)
    assert password is not None
    with account_session(args.email) as (app, session, user):
        try:
            set_password(session, passwords(app), user, password)
        except AccountError as exc:
            raise CommandError(str(exc)) from exc
        record(session, None, "user.password", "user", user.id)
        session.commit()
        print(f"password of {user.email} set; every session of the account has ended")
    return 0


def run_create_token(args: argparse.Namespace) -> int:
    from server.auth.tokens import create

    if args.expires_days is not None and not 1 <= args.expires_days <= 3650:
        raise CommandError("--expires-days must be from 1 to 3650")
    with account_session(args.email, ": create it first") as (_app, session, user):
        if not user.active:
            raise CommandError(f"the account {user.email} is deactivated")
        try:
            row, token = create(session, user, args.name, args.expires_days, actor=None)  # audited
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        session.commit()
        print(token)
        print(
            f"API token {row.prefix}... '{row.name}' for {user.email}: shown once, store it now "
            "(send it as 'Authorization: Bearer <token>').",
            file=sys.stderr,
        )
    return 0
