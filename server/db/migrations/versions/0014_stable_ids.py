"""Stable record identity (issue 15): ids never reused, ON DELETE rules for attendance evidence.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

SQLite hands out `max(id) + 1` for an INTEGER PRIMARY KEY, so deleting the newest row frees its id:
the demo's restarted lecture came back as session 1 and showed the deleted session's audit trail
(audit rows name their entity by type and id string). With AUTOINCREMENT SQLite remembers the
largest id ever used (`sqlite_sequence`) and never reuses one. SQLite cannot add that to a table,
so every table whose ids other rows or the audit log name is recreated (batch mode,
`recreate="always"`, rows, indexes, named constraints and foreign keys copied). Ids freed before
this revision cannot be known and are not protected; from here on none is reused.

MariaDB: InnoDB never reuses an AUTO_INCREMENT value within a running server, and since 10.2.4 the
counter is persistent across restarts (before, it was reset to max(id) + 1 at startup), so nothing
changes there but the foreign key below.

`sightings.session_id` becomes ON DELETE CASCADE (was SET NULL): a sighting without a session is one
that ingest has not placed yet, and `attach_sightings` gives such rows to whichever session covers
their room and time, so a deleted session's sightings reappeared in the next session of that room.
A deleted session's evidence now goes with it (its reviews and overrides already did).

Self-contained, like 0001: table names are listed here, not taken from the models.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every table with a single surrogate integer key (those whose ids something else names).
# Not here: course_students and album_face_rejections (composite keys), device_health (keyed by device).
TABLES = (
    "users",
    "api_tokens",
    "login_attempts",
    "courses",
    "students",
    "classrooms",
    "devices",
    "lecture_sessions",
    "sightings",
    "face_templates",
    "course_galleries",
    "unknown_face_reviews",
    "attendance_overrides",
    "audit_log",
    "enrolment_rejections",
    "rejected_messages",
    "device_telemetry",
    "device_commands",
    "jobs",
    "album_albums",
    "album_photos",
    "album_people",
    "album_faces",
    "album_searches",
    "deepfake_checks",
    "deepfake_faces",
)
SESSION_FK = "fk_sightings_session_id_lecture_sessions"


def _session_fk(batch, ondelete: str) -> None:
    batch.drop_constraint(SESSION_FK, type_="foreignkey")
    batch.create_foreign_key(SESSION_FK, "lecture_sessions", ["session_id"], ["id"], ondelete=ondelete)


def _migrate(autoincrement: bool, ondelete: str) -> None:
    if op.get_bind().dialect.name != "sqlite":
        with op.batch_alter_table("sightings") as batch:
            _session_fk(batch, ondelete)
        return
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ) as batch:
            if table == "sightings":
                _session_fk(batch, ondelete)


def upgrade() -> None:
    _migrate(True, "CASCADE")


def downgrade() -> None:
    _migrate(False, "SET NULL")
