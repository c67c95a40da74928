"""The server's database: typed models (`server.db.models`), per-request sessions
(`server.db.session`), UTC-aware column types (`server.db.types`) and Alembic migrations
(`server.db.migrate`, revisions in `migrations/versions/`).

    from sqlalchemy import select
    from server.db import db_session
    from server.db.models import User

    user = db_session.scalars(select(User).where(User.email == email)).one_or_none()
    db_session.commit()
"""

from server.db.base import Base
from server.db.session import Database, db_session, get_db, get_session
from server.db.types import utcnow

__all__ = ["Base", "Database", "db_session", "get_db", "get_session", "utcnow"]
