"""Devices: what gallery was last published to each device (so unchanged galleries are not resent).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("device_health") as batch:
        batch.add_column(sa.Column("published_gallery_sha256", sa.String(64), nullable=True))
        batch.add_column(sa.Column("published_gallery_version", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column(
                "published_gallery_at",
                sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb"),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("device_health") as batch:
        batch.drop_column("published_gallery_at")
        batch.drop_column("published_gallery_version")
        batch.drop_column("published_gallery_sha256")
