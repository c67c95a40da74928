"""Initial schema: accounts, the attendance domain, evidence, overrides and the audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Self-contained on purpose (no import of the application's types): a migration must keep
producing the same schema however the models evolve later.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MYSQL = ("mysql", "mariadb")


def utc_datetime() -> sa.types.TypeEngine:
    """Naive UTC with microseconds (MySQL's DATETIME keeps whole seconds unless told otherwise)."""
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *MYSQL)


def blob() -> sa.types.TypeEngine:
    return sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), *MYSQL)


def big_id() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def choice(table: str, column: str, name: str, values: Sequence[str]) -> sa.CheckConstraint:
    """The CHECK that guards an enum stored as VARCHAR (named as the models' naming convention does)."""
    allowed = ", ".join(f"'{value}'" for value in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=op.f(f"ck_{table}_{name}"))


def fk(column: str, table: str, target: str, ondelete: str | None = None, **kwargs) -> sa.Column:
    return sa.Column(
        column,
        sa.Integer(),
        sa.ForeignKey(f"{target}.id", name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete),
        **kwargs,
    )


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", utc_datetime(), nullable=False),
        sa.Column("last_login_at", utc_datetime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        choice("users", "role", "user_role", ("admin", "instructor", "album_user", "student")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer()),
        fk("user_id", "api_tokens", "users", "CASCADE", nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", utc_datetime(), nullable=False),
        sa.Column("expires_at", utc_datetime(), nullable=True),
        sa.Column("last_used_at", utc_datetime(), nullable=True),
        sa.Column("revoked_at", utc_datetime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_api_tokens_token_sha256")),
    )
    op.create_index(op.f("ix_api_tokens_user_id"), "api_tokens", ["user_id"])
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer()),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("ip", sa.String(45), nullable=False),
        sa.Column("at", utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
    )
    op.create_index(op.f("ix_login_attempts_at"), "login_attempts", ["at"])
    op.create_index("ix_login_attempts_email_ip_at", "login_attempts", ["email", "ip", "at"])

    op.create_table(
        "classrooms",
        sa.Column("id", sa.Integer()),
        sa.Column("name", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_classrooms")),
        sa.UniqueConstraint("name", name=op.f("uq_classrooms_name")),
    )
    op.create_table(
        "courses",
        sa.Column("id", sa.Integer()),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        fk("instructor_id", "courses", "users", "SET NULL", nullable=True),
        sa.Column("created_at", utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_courses")),
        sa.UniqueConstraint("code", name=op.f("uq_courses_code")),
    )
    op.create_index(op.f("ix_courses_instructor_id"), "courses", ["instructor_id"])
    op.create_table(
        "students",
        sa.Column("id", sa.Integer()),
        sa.Column("student_number", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        fk("user_id", "students", "users", "SET NULL", nullable=True),
        sa.Column("created_at", utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_students")),
        sa.UniqueConstraint("student_number", name=op.f("uq_students_student_number")),
        sa.UniqueConstraint("user_id", name=op.f("uq_students_user_id")),
    )
    op.create_table(
        "course_students",
        fk("course_id", "course_students", "courses", "CASCADE", nullable=False),
        fk("student_id", "course_students", "students", "CASCADE", nullable=False),
        sa.PrimaryKeyConstraint("course_id", "student_id", name=op.f("pk_course_students")),
    )
    op.create_index(op.f("ix_course_students_student_id"), "course_students", ["student_id"])
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer()),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        fk("classroom_id", "devices", "classrooms", "SET NULL", nullable=True),
        sa.Column("created_at", utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("device_id", name=op.f("uq_devices_device_id")),
    )
    op.create_index(op.f("ix_devices_classroom_id"), "devices", ["classroom_id"])
    op.create_table(
        "lecture_sessions",
        sa.Column("id", sa.Integer()),
        fk("course_id", "lecture_sessions", "courses", "CASCADE", nullable=False),
        fk("classroom_id", "lecture_sessions", "classrooms", "SET NULL", nullable=True),
        sa.Column("starts_at", utc_datetime(), nullable=False),
        sa.Column("ends_at", utc_datetime(), nullable=False),
        sa.Column("period_minutes", sa.Integer(), server_default="60", nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        fk("confirmed_by_id", "lecture_sessions", "users", "SET NULL", nullable=True),
        sa.Column("confirmed_at", utc_datetime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lecture_sessions")),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_lecture_sessions_ends_after_start")),
        sa.CheckConstraint("period_minutes > 0", name=op.f("ck_lecture_sessions_positive_period")),
        choice("lecture_sessions", "status", "session_status", ("scheduled", "confirmed")),
    )
    op.create_index("ix_lecture_sessions_course_id_starts_at", "lecture_sessions", ["course_id", "starts_at"])
    op.create_index(
        "ix_lecture_sessions_classroom_id_starts_at", "lecture_sessions", ["classroom_id", "starts_at"]
    )

    op.create_table(
        "sightings",
        sa.Column("id", big_id()),
        sa.Column("event_id", sa.String(64), nullable=False),
        fk("device_id", "sightings", "devices", nullable=False),
        fk("session_id", "sightings", "lecture_sessions", "SET NULL", nullable=True),
        fk("student_id", "sightings", "students", "CASCADE", nullable=True),
        sa.Column("track_id", sa.String(64), nullable=False),
        sa.Column("captured_at", utc_datetime(), nullable=False),
        sa.Column("received_at", utc_datetime(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("quality", sa.Float(), nullable=True),
        sa.Column("thumbnail", blob(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sightings")),
        sa.UniqueConstraint("event_id", name=op.f("uq_sightings_event_id")),
    )
    op.create_index("ix_sightings_session_id_captured_at", "sightings", ["session_id", "captured_at"])
    op.create_index("ix_sightings_device_id_captured_at", "sightings", ["device_id", "captured_at"])
    op.create_index("ix_sightings_student_id_captured_at", "sightings", ["student_id", "captured_at"])
    op.create_table(
        "face_templates",
        sa.Column("id", sa.Integer()),
        fk("student_id", "face_templates", "students", "CASCADE", nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("embedding", blob(), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("quality", sa.JSON(), nullable=True),
        sa.Column("source_sha256", sa.String(64), nullable=True),
        sa.Column("created_at", utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_face_templates")),
        choice("face_templates", "kind", "face_kind", ("photo", "template")),
    )
    op.create_index("ix_face_templates_student_id_kind", "face_templates", ["student_id", "kind"])
    op.create_table(
        "course_galleries",
        sa.Column("id", sa.Integer()),
        fk("course_id", "course_galleries", "courses", "CASCADE", nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_galleries")),
        sa.UniqueConstraint("course_id", "version", name=op.f("uq_course_galleries_course_id_version")),
    )
    op.create_table(
        "unknown_face_reviews",
        sa.Column("id", sa.Integer()),
        fk("session_id", "unknown_face_reviews", "lecture_sessions", "CASCADE", nullable=False),
        fk("device_id", "unknown_face_reviews", "devices", "CASCADE", nullable=False),
        sa.Column("track_id", sa.String(64), nullable=False),
        sa.Column("decision", sa.String(32), nullable=False),
        fk("student_id", "unknown_face_reviews", "students", "CASCADE", nullable=True),
        fk("actor_id", "unknown_face_reviews", "users", "SET NULL", nullable=True),
        sa.Column("created_at", utc_datetime(), nullable=False),
        sa.Column("decided_at", utc_datetime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unknown_face_reviews")),
        sa.UniqueConstraint(
            "session_id",
            "device_id",
            "track_id",
            name=op.f("uq_unknown_face_reviews_session_id_device_id_track_id"),
        ),
        choice(
            "unknown_face_reviews", "decision", "review_decision", ("pending", "assigned", "not_a_student")
        ),
    )

    op.create_table(
        "attendance_overrides",
        sa.Column("id", sa.Integer()),
        fk("session_id", "attendance_overrides", "lecture_sessions", "CASCADE", nullable=False),
        fk("student_id", "attendance_overrides", "students", "CASCADE", nullable=False),
        sa.Column("period_index", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        fk("actor_id", "attendance_overrides", "users", "SET NULL", nullable=True),
        sa.Column("at", utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attendance_overrides")),
        choice(
            "attendance_overrides",
            "status",
            "attendance_status",
            ("present", "late", "left_early", "late_and_left_early", "absent", "excused"),
        ),
    )
    op.create_index(
        "ix_attendance_overrides_session_id_student_id", "attendance_overrides", ["session_id", "student_id"]
    )
    op.create_table(
        "audit_log",
        sa.Column("id", big_id()),
        fk("actor_id", "audit_log", "users", "SET NULL", nullable=True),
        sa.Column("at", utc_datetime(), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("entity_type", sa.String(64), nullable=False),
        sa.Column("entity_id", sa.String(64), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_actor_id"), "audit_log", ["actor_id"])
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    op.create_index("ix_audit_log_entity_type_entity_id", "audit_log", ["entity_type", "entity_id"])


def downgrade() -> None:
    # Dependents first; a table's indexes go with it (MySQL refuses to drop an index a foreign key needs).
    for table in (
        "audit_log",
        "attendance_overrides",
        "unknown_face_reviews",
        "course_galleries",
        "face_templates",
        "sightings",
        "lecture_sessions",
        "devices",
        "course_students",
        "students",
        "courses",
        "classrooms",
        "login_attempts",
        "api_tokens",
        "users",
    ):
        op.drop_table(table)
