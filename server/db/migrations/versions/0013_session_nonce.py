"""Users get a session nonce: signing out or changing the password ends every session of the account.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

Flask's session cookie is signed, not stored: before this, a cookie copied before sign-out stayed
valid for its whole lifetime (12 h). The nonce is part of the id the cookie carries
(`User.get_id()`); a new one is drawn at sign-out and at a password change, and the user loader
refuses a cookie whose nonce is not the current one. Existing rows get a random nonce, so cookies
issued before this revision (which carry no nonce) stop working: everybody signs in once more.
Self-contained, like 0001.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("session_nonce", sa.String(32), nullable=True))
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("session_nonce", sa.String(32)))
    connection = op.get_bind()
    for (user_id,) in connection.execute(sa.select(users.c.id)).all():
        connection.execute(
            users.update().where(users.c.id == user_id).values(session_nonce=secrets.token_hex(16))
        )
    with op.batch_alter_table("users") as batch:
        batch.alter_column("session_nonce", existing_type=sa.String(32), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_nonce")
