"""A language per user (issue 18): the pages' language when the user chose one.

Revision ID: 0019_user_language
Revises: 0018
Create Date: 2026-12-07

One nullable column on `users`: `language` holds a locale code the server has a catalogue for
("ko", "en"); NULL means "follow the browser" (Accept-Language), which every existing account keeps.
Self-contained (no import of the application's types).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_user_language"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("language", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("language")
