"""Alembic, driven from Python: `visage server init-db`, tests and `visage server run` use this.

For new revisions, the Alembic command line works with `server/db/alembic.ini`:

    alembic -c server/db/alembic.ini revision --autogenerate -m "add album tables"

(it migrates the database the server's configuration names; review the generated file, and
keep it runnable on both SQLite and MySQL/MariaDB: the test suite migrates both from empty).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.engine import URL

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | URL) -> Config:
    """An Alembic configuration for `url`, without an ini file (the URL is passed as an attribute,
    so that a password with `%` in it survives configparser)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = url if isinstance(url, str) else url.render_as_string(False)
    return config


def upgrade(url: str | URL, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | URL, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_up_to_date(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()
