"""Per-course recognition thresholds calibrated from enrolment photos (issue 15).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07

`course_thresholds`: at most one row per course, the match and unknown thresholds an administrator
accepted for the course's gallery (`server.school.calibration`); no row means the global threshold.
AUTOINCREMENT on SQLite, so the id an audit entry names is never handed out again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def utc_datetime() -> sa.types.TypeEngine:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "course_thresholds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "course_id",
            sa.Integer(),
            sa.ForeignKey(
                "courses.id", name=op.f("fk_course_thresholds_course_id_courses"), ondelete="CASCADE"
            ),
            nullable=False,
        ),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("unknown_threshold", sa.Float(), nullable=False),
        sa.Column("target_far", sa.Float(), nullable=False),
        sa.Column("genuine_pairs", sa.Integer(), nullable=False),
        sa.Column("impostor_pairs", sa.Integer(), nullable=False),
        sa.Column("global_threshold", sa.Float(), nullable=False),
        sa.Column(
            "accepted_by_id",
            sa.Integer(),
            sa.ForeignKey(
                "users.id", name=op.f("fk_course_thresholds_accepted_by_id_users"), ondelete="SET NULL"
            ),
            nullable=True,
        ),
        sa.Column("accepted_at", utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_thresholds")),
        sa.UniqueConstraint("course_id", name=op.f("uq_course_thresholds_course_id")),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("course_thresholds")
