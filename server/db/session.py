"""Engines and sessions: one engine per app, one SQLAlchemy session per request (or app context).

The pattern, with plain SQLAlchemy 2 (no Flask-SQLAlchemy, whose model base class and query
API the typed models and the non-Flask code (CLI, ingest, jobs) would otherwise depend on):

* `create_app` builds a `Database` (engine + sessionmaker) and stores it in `app.extensions`.
* Inside a request, `db_session` (a proxy) is that request's `Session`, opened on first use and
  closed when the app context ends; what was not committed is rolled back then. Views call
  `db_session.commit()` themselves: nothing is committed implicitly.
* Outside requests (CLI, background workers), use `with get_db(app).session() as session:` or
  push an app context.

Sessions use `expire_on_commit=False`: objects stay readable after a commit (a view commits and
then renders them) at the cost of not re-reading them; sessions are short, so that is safe.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.local import LocalProxy

from server.config import ConfigError
from server.db.types import MYSQL_DIALECTS
from server.settings import settings_of

EXTENSION_KEY = "visage.db"


class Database:
    """An engine and its session factory, for one database URL."""

    def __init__(self, url: str | URL, echo: bool = False) -> None:
        self.engine = make_engine(url, echo=echo)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def url(self) -> URL:
        return self.engine.url

    def session(self) -> Session:
        """A new session; the caller closes it (`with database.session() as s:`)."""
        return self.sessionmaker()

    def dispose(self) -> None:
        self.engine.dispose()


def make_engine(url: str | URL, echo: bool = False) -> Engine:
    """An engine with the settings each backend needs to behave like the other."""
    url = make_url(url)
    options: dict[str, Any] = {"echo": echo}
    backend = url.get_backend_name()
    if backend in MYSQL_DIALECTS:
        if "charset" not in url.query:
            url = url.update_query_dict({"charset": "utf8mb4"})  # full Unicode, names in any script
        # Drop connections the server closed while idle (wait_timeout), and avoid gap locks
        # that REPEATABLE READ takes on the idempotent inserts of ingest.
        options.update(pool_pre_ping=True, pool_recycle=3600, isolation_level="READ COMMITTED")
    engine = create_engine(url, **options)
    if backend == "sqlite":
        event.listen(engine, "connect", _configure_sqlite)
    return engine


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """Enforce foreign keys (off by default in SQLite) and let readers and a writer work together."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def init_app(app: Flask) -> Database:
    """Create the app's `Database` and close the request session when each app context ends."""
    settings = settings_of(app).server
    if not settings.database_url:  # server.config.load_config fills it in; a hand-made app may not
        raise ConfigError("DATABASE_URL is not set")
    database = Database(settings.database_url, echo=settings.database_echo)
    app.extensions[EXTENSION_KEY] = database
    app.teardown_appcontext(_close_session)
    return database


def get_db(app: Flask | None = None) -> Database:
    """The `Database` of `app` (default: the current app)."""
    return (app or current_app).extensions[EXTENSION_KEY]


def get_session() -> Session:
    """This app context's session, opened on first use."""
    if "db_session" not in g:
        g.db_session = get_db().session()
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


db_session: Session = LocalProxy(get_session)  # type: ignore[assignment]
"""The current request's session: `db_session.scalars(select(User))`, `db_session.commit()`."""
