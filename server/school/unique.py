"""Names that must be unique regardless of case (course codes, room names, device ids).

MariaDB's default collation compares case-insensitively and SQLite does not; checking with
lower() here makes both databases refuse 'Cam-1' beside 'cam-1' with the same 409 sentence.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from server.school.errors import Conflict


def ensure_unique(
    db: Session, column: InstrumentedAttribute[str], value: str, message: str, exclude_id: int | None = None
) -> None:
    """Raise Conflict(message) when another row (not `exclude_id`) already holds `value` in `column`."""
    id_column = column.class_.id
    query = select(id_column).where(func.lower(column) == value.lower())
    if exclude_id is not None:
        query = query.where(id_column != exclude_id)
    if db.scalar(query) is not None:
        raise Conflict(message)
