"""Column types that behave the same on SQLite and MariaDB/MySQL.

Time: the application only ever handles timezone-aware UTC datetimes. The database stores
them as naive UTC (neither SQLite nor MySQL's DATETIME keeps an offset), and `UTCDateTime`
converts at that edge: aware in, naive UTC stored, aware UTC out. A naive datetime handed to
the database is a bug (whose clock is it?), so it is refused instead of guessed.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, LargeBinary
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

MYSQL_DIALECTS = ("mysql", "mariadb")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the only kind of datetime the server passes around)."""
    return datetime.now(timezone.utc)


def as_utc(value: datetime) -> datetime:
    """An aware datetime converted to UTC; a naive one is refused (its clock is unknown)."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"naive datetime {value.isoformat()}: pass a timezone-aware (UTC) datetime")
    return value.astimezone(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetime in Python, naive UTC with microseconds in the database."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in MYSQL_DIALECTS:
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))  # MySQL drops fractions otherwise
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return as_utc(value).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


# BLOB is 64 KiB on MySQL: too small for a face thumbnail or a photo; MEDIUMBLOB holds 16 MiB.
Blob = LargeBinary().with_variant(mysql.MEDIUMBLOB(), *MYSQL_DIALECTS)

# SQLite only auto-increments an INTEGER PRIMARY KEY; MySQL gets a 64-bit key for big tables.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# What an integer column holds on both databases: INT on MariaDB is 32-bit (SQLite's INTEGER is
# 64-bit), BIGINT 64-bit. An integer from a request is checked against these before it reaches
# SQL: beyond them SQLite's driver raises OverflowError and MariaDB an out-of-range error.
INT_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1
