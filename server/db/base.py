"""The declarative base every model derives from: one MetaData with stable constraint names.

Named constraints matter for migrations: SQLite's batch mode recreates tables and must find
constraints by name, and MySQL limits identifiers to 64 characters, which these names respect.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, MetaData
from sqlalchemy.orm import DeclarativeBase

from server.db.types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


AUTOINCREMENT: dict[str, Any] = {"sqlite_autoincrement": True}
"""Table kwargs of every table whose ids other rows or the audit log name: SQLite then never hands out
the id of a deleted row again (without it, deleting the newest row frees its id for the next insert,
and a new session or student would inherit the old one's audit trail). MariaDB's InnoDB never reuses
AUTO_INCREMENT values (persistent across restarts since 10.2.4), so this is SQLite-only."""


class Base(DeclarativeBase):
    """Typed declarative base: `Mapped[datetime]` is always a UTC-aware column."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }
