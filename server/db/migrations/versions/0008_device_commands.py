"""Device commands: the server-side outbox of commands to devices and their acknowledgements.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def utc_datetime() -> sa.types.TypeEngine:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "device_commands",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("command_id", sa.String(64), nullable=False),
        sa.Column(
            "device_id",
            sa.Integer(),
            sa.ForeignKey(
                "devices.id", name=op.f("fk_device_commands_device_id_devices"), ondelete="CASCADE"
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.String(255), nullable=True),
        sa.Column(
            "issued_by",
            sa.Integer(),
            sa.ForeignKey("users.id", name=op.f("fk_device_commands_issued_by_users"), ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("created_at", utc_datetime(), nullable=False),
        sa.Column("expires_at", utc_datetime(), nullable=False),
        sa.Column("sent_at", utc_datetime(), nullable=True),
        sa.Column("answered_at", utc_datetime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_commands")),
        sa.UniqueConstraint("command_id", name=op.f("uq_device_commands_command_id")),
    )
    op.create_index("ix_device_commands_status", "device_commands", ["status"])
    op.create_index("ix_device_commands_device_id_created_at", "device_commands", ["device_id", "created_at"])


def downgrade() -> None:
    # The indexes go with the table (MariaDB refuses to drop one a foreign key uses on its own).
    op.drop_table("device_commands")
