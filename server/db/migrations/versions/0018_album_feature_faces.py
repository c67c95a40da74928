"""A feature photo per album person, chosen by the user (issue 18).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07

New table only (nothing existing is altered): `album_feature_faces`, at most one row per person
(the primary key) naming the face the user chose to show that person by; a face is the feature of
at most one person (unique). Both keys cascade, so deleting the face or the person removes the
choice. A table rather than a column on `album_people`: a `feature_face_id` there would make
`album_people` and `album_faces` reference each other, a cycle that neither creation order nor
SQLite's table rebuilds handle cleanly. Self-contained (no import of the application's types).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "album_feature_faces"


def utc_datetime() -> sa.types.TypeEngine:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column(
            "person_id",
            sa.Integer(),
            sa.ForeignKey(
                "album_people.id", name=op.f(f"fk_{TABLE}_person_id_album_people"), ondelete="CASCADE"
            ),
            nullable=False,
        ),
        sa.Column(
            "face_id",
            sa.Integer(),
            sa.ForeignKey("album_faces.id", name=op.f(f"fk_{TABLE}_face_id_album_faces"), ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("chosen_at", utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("person_id", name=op.f(f"pk_{TABLE}")),
        sa.UniqueConstraint("face_id", name=op.f(f"uq_{TABLE}_face_id")),
    )


def downgrade() -> None:
    op.drop_table(TABLE)
