"""Enrolment: face thumbnails and file names on enrolled photos, students' emails, refused photos.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Self-contained (no import of the application's types), like 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MYSQL = ("mysql", "mariadb")


def utc_datetime() -> sa.types.TypeEngine:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *MYSQL)


def blob() -> sa.types.TypeEngine:
    return sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), *MYSQL)


def upgrade() -> None:
    with op.batch_alter_table("face_templates") as batch:
        batch.add_column(sa.Column("filename", sa.String(255), nullable=True))
        batch.add_column(sa.Column("thumbnail", blob(), nullable=True))
    with op.batch_alter_table("students") as batch:
        batch.add_column(sa.Column("email", sa.String(254), nullable=True))
    op.create_table(
        "enrolment_rejections",
        sa.Column("id", sa.Integer()),
        sa.Column(
            "student_id",
            sa.Integer(),
            sa.ForeignKey(
                "students.id", name=op.f("fk_enrolment_rejections_student_id_students"), ondelete="CASCADE"
            ),
            nullable=False,
        ),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("source_sha256", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("quality", sa.JSON(), nullable=True),
        sa.Column(
            "actor_id",
            sa.Integer(),
            sa.ForeignKey(
                "users.id", name=op.f("fk_enrolment_rejections_actor_id_users"), ondelete="SET NULL"
            ),
            nullable=True,
        ),
        sa.Column("created_at", utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrolment_rejections")),
    )
    op.create_index(
        "ix_enrolment_rejections_student_id_created_at", "enrolment_rejections", ["student_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_table("enrolment_rejections")
    with op.batch_alter_table("students") as batch:
        batch.drop_column("email")
    with op.batch_alter_table("face_templates") as batch:
        batch.drop_column("thumbnail")
        batch.drop_column("filename")
