"""Unknown-face clusters within and across a course's sessions, and faces learned from review (issue 15).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07

New tables only (nothing existing is altered): `unknown_clusters` (one stranger per course and
embedder, with its decision), `unknown_cluster_members` (which review's track is in which cluster,
through which sighting's embedding) and `learned_faces` (enrolment photos that came from review).
Self-contained (no import of the application's types), like 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MYSQL = ("mysql", "mariadb")
DECISIONS = ("pending", "assigned", "not_a_student")


def utc_datetime() -> sa.types.TypeEngine:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *MYSQL)


def big_id() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def fk(
    table: str, column: str, target: str, ondelete: str, nullable: bool = False, big: bool = False
) -> sa.Column:
    return sa.Column(
        column,
        big_id() if big else sa.Integer(),
        sa.ForeignKey(f"{target}.id", name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete),
        nullable=nullable,
    )


def upgrade() -> None:
    allowed = ", ".join(f"'{value}'" for value in DECISIONS)
    op.create_table(
        "unknown_clusters",
        sa.Column("id", sa.Integer(), nullable=False),
        fk("unknown_clusters", "course_id", "courses", "CASCADE"),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(32), nullable=False),
        fk("unknown_clusters", "student_id", "students", "CASCADE", nullable=True),
        fk("unknown_clusters", "actor_id", "users", "SET NULL", nullable=True),
        sa.Column("created_at", utc_datetime(), nullable=False),
        sa.Column("decided_at", utc_datetime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unknown_clusters")),
        sa.CheckConstraint(f"decision IN ({allowed})", name=op.f("ck_unknown_clusters_review_decision")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_unknown_clusters_course_id_model", "unknown_clusters", ["course_id", "model"])
    op.create_table(
        "unknown_cluster_members",
        fk("unknown_cluster_members", "review_id", "unknown_face_reviews", "CASCADE"),
        fk("unknown_cluster_members", "cluster_id", "unknown_clusters", "CASCADE"),
        fk("unknown_cluster_members", "sighting_id", "sightings", "CASCADE", big=True),
        sa.Column("similarity", sa.Float(), nullable=True),
        sa.Column("joined_at", utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("review_id", name=op.f("pk_unknown_cluster_members")),
    )
    op.create_index("ix_unknown_cluster_members_cluster_id", "unknown_cluster_members", ["cluster_id"])
    op.create_table(
        "learned_faces",
        sa.Column("id", sa.Integer(), nullable=False),
        fk("learned_faces", "template_id", "face_templates", "CASCADE"),
        fk("learned_faces", "student_id", "students", "CASCADE"),
        fk("learned_faces", "session_id", "lecture_sessions", "SET NULL", nullable=True),
        fk("learned_faces", "sighting_id", "sightings", "SET NULL", nullable=True, big=True),
        fk("learned_faces", "actor_id", "users", "SET NULL", nullable=True),
        sa.Column("created_at", utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_learned_faces")),
        sa.UniqueConstraint("template_id", name=op.f("uq_learned_faces_template_id")),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    # Dropping a table drops its indexes (MariaDB refuses to drop one a foreign key still needs).
    op.drop_table("learned_faces")
    op.drop_table("unknown_cluster_members")
    op.drop_table("unknown_clusters")
