"""Deepfake checks: uploaded media, per-frame scores, face crops.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23

Self-contained (no import of the application's types), like 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MYSQL = ("mysql", "mariadb")
STATUSES = ("queued", "running", "done", "failed")


def utc_datetime() -> sa.types.TypeEngine:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *MYSQL)


def blob() -> sa.types.TypeEngine:
    return sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), *MYSQL)


def big_id() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    allowed = ", ".join(f"'{value}'" for value in STATUSES)
    op.create_table(
        "deepfake_checks",
        sa.Column("id", big_id()),
        sa.Column(
            "owner_id",
            sa.Integer(),
            sa.ForeignKey("users.id", name=op.f("fk_deepfake_checks_owner_id_users"), ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "job_id",
            big_id(),
            sa.ForeignKey("jobs.id", name=op.f("fk_deepfake_checks_job_id_jobs"), ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("media_kind", sa.String(8), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("storage_key", sa.String(255), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("verdict", sa.String(16), nullable=True),
        sa.Column("probability", sa.Float(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("created_at", utc_datetime(), nullable=False),
        sa.Column("finished_at", utc_datetime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deepfake_checks")),
        sa.CheckConstraint(f"status IN ({allowed})", name=op.f("ck_deepfake_checks_deepfake_check_status")),
    )
    op.create_index("ix_deepfake_checks_owner_id_id", "deepfake_checks", ["owner_id", "id"])
    op.create_table(
        "deepfake_faces",
        sa.Column("id", big_id()),
        sa.Column(
            "check_id",
            big_id(),
            sa.ForeignKey(
                "deepfake_checks.id",
                name=op.f("fk_deepfake_faces_check_id_deepfake_checks"),
                ondelete="CASCADE",
            ),
            nullable=False,
        ),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("frame", sa.Integer(), nullable=False),
        sa.Column("time_s", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("box", sa.JSON(), nullable=False),
        sa.Column("jpeg", blob(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deepfake_faces")),
    )
    op.create_index("ix_deepfake_faces_check_id", "deepfake_faces", ["check_id"])


def downgrade() -> None:
    op.drop_table(
        "deepfake_faces"
    )  # indexes go with their table (MariaDB refuses to drop an FK's index first)
    op.drop_table("deepfake_checks")
