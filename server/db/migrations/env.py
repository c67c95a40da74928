"""Alembic environment: migrates the database of the server's configuration.

The URL comes from `config.attributes["database_url"]` (set by `server.db.migrate`), else from the
server's own settings (environment, VISAGE_CONFIG), the same resolution `create_app` uses.
SQLite gets batch mode (`render_as_batch`): it cannot ALTER most things, so Alembic recreates
the table instead.
"""

from __future__ import annotations

import logging.config

from alembic import context

import server.db.models  # noqa: F401  (registers every table on the metadata)
from server.db.base import Base
from server.db.session import make_engine

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def database_url() -> str:
    url = config.attributes.get("database_url")
    if url:
        return url
    from server.config import default_instance_path, load_config

    return load_config(default_instance_path())["DATABASE_URL"]


def run_migrations_offline() -> None:
    """Emit SQL to stdout (`alembic upgrade head --sql`) instead of touching a database."""
    url = database_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(database_url())
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            # Batch mode copies tables: with foreign keys enforced, dropping the old copy would
            # cascade into the rows that reference it. Outside a transaction, as SQLite requires.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
