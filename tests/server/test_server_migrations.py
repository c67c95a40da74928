"""Alembic migrations from empty on SQLite and MariaDB, and the schema behaving the same on both."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Enum as SAEnum
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError, StatementError

from server.audit import record
from server.db import Base, Database
from server.db.enums import AttendanceStatus
from server.db.migrate import current_revision, downgrade, head_revision, is_up_to_date, upgrade
from server.db.models import (
    AuditLog,
    Classroom,
    Course,
    Device,
    FaceTemplate,
    LectureSession,
    Sighting,
    Student,
    User,
)


def schema_differences(database: Database) -> list:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)


def test_upgrade_from_empty_downgrade_to_base_and_upgrade_again(new_database_url):
    url = new_database_url()
    database = Database(url)
    try:
        assert current_revision(database.engine) is None
        upgrade(url)
        assert is_up_to_date(database.engine) and current_revision(database.engine) == head_revision()
        tables = set(inspect(database.engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        assert schema_differences(database) == []  # the migrations build exactly what the models say

        downgrade(url, "base")
        assert set(inspect(database.engine).get_table_names()) <= {"alembic_version"}
        assert current_revision(database.engine) is None

        upgrade(url)
        assert schema_differences(database) == []
    finally:
        database.dispose()


def test_datetimes_are_utc_aware_with_microseconds(app, db):
    seoul = timezone(timedelta(hours=9))
    local = datetime(2026, 3, 2, 18, 30, 15, 123456, tzinfo=seoul)
    user = User(email="t@example.org", display_name="T", role="instructor", created_at=local)
    db.add(user)
    db.commit()
    db.expire_all()
    stored = db.get(User, user.id).created_at
    assert (
        stored == local
        and stored.tzinfo == timezone.utc
        and stored.hour == 9
        and stored.microsecond == 123456
    )

    db.add(User(email="naive@example.org", display_name="N", role="student", created_at=datetime(2026, 1, 1)))
    with pytest.raises(StatementError, match="naive datetime"):
        db.commit()
    db.rollback()


def _session_with_sighting(db) -> tuple[Student, Sighting]:
    teacher = User(email="teacher@example.org", display_name="T", role="instructor")
    room = Classroom(name="B-101")
    device = Device(device_id="cam-b101", name="Front camera", classroom=room)
    student = Student(student_number="20260001", name="Kim")
    course = Course(code="CS101", title="Intro", instructor=teacher, students=[student])
    start = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
    end = start + timedelta(hours=2)
    lecture = LectureSession(course=course, classroom=room, starts_at=start, ends_at=end)
    sighting = Sighting(
        event_id="cam-b101:1",
        device=device,
        session=lecture,
        student=student,
        track_id="7",
        captured_at=start + timedelta(minutes=3),
        score=0.81,
        thumbnail=b"\xff\xd8" * 40_000,
    )
    template = FaceTemplate(
        student=student, embedding=b"\0" * 512, dim=128, model="dlib_resnet", quality={"blur": 80}
    )
    db.add_all([sighting, template])
    db.commit()
    return student, sighting


def test_event_ids_are_unique_and_big_thumbnails_fit(app, db):
    _student, sighting = _session_with_sighting(db)
    assert len(db.get(Sighting, sighting.id).thumbnail) == 80_000  # over MySQL's 64 KiB BLOB
    assert db.get(LectureSession, sighting.session_id).period_minutes == 60
    duplicate = Sighting(
        event_id="cam-b101:1", device_id=sighting.device_id, track_id="8", captured_at=sighting.captured_at
    )
    db.add(duplicate)
    with pytest.raises(IntegrityError):
        db.commit()
    db.rollback()


def test_deleting_a_student_deletes_their_faces_everywhere(app, db):
    student, _sighting = _session_with_sighting(db)
    db.delete(student)
    db.commit()
    db.expire_all()  # the database cascaded; forget what this session remembered
    assert db.scalars(select(Sighting)).all() == []
    assert db.scalars(select(FaceTemplate)).all() == []
    assert db.scalars(select(Course)).one().students == []


def test_enum_columns_refuse_unknown_values(app, db):
    db.add(User(email="x@example.org", display_name="X", role="superuser"))
    with pytest.raises(StatementError):
        db.commit()
    db.rollback()


def test_migrated_check_constraints_allow_exactly_the_model_enums(app, db):
    """The CHECKs written in the migration list the same values as the models' enums."""
    inspector = inspect(db.get_bind())
    checked = 0
    for table in Base.metadata.sorted_tables:
        constraints = {c["name"]: c["sqltext"] for c in inspector.get_check_constraints(table.name)}
        for column in table.columns:
            if not isinstance(column.type, SAEnum):
                continue
            text = constraints[f"ck_{table.name}_{column.type.name}"]
            allowed = set(re.findall(r"'([^']*)'", text))
            assert allowed == set(column.type.enums), (table.name, column.name)
            checked += 1
    assert checked >= 6  # the base schema's five and jobs.status; album/deepfake add more


def test_override_statuses_match_the_attendance_engine():
    from server.attendance.engine import Status

    assert {s.value for s in AttendanceStatus} == {s.value for s in Status}


def test_audit_entries_keep_json_before_and_after(app, db):
    actor = User(email="aud@example.org", display_name="Aud", role="admin")
    db.add(actor)
    db.flush()
    record(
        db,
        actor,
        "student.rename",
        "student",
        42,
        before={"name": "김민수"},
        after={"name": "Kim Minsu"},
        reason="romanised",
    )
    db.commit()
    db.expire_all()
    entry = db.scalars(select(AuditLog)).one()
    assert (entry.before, entry.after, entry.entity_id) == ({"name": "김민수"}, {"name": "Kim Minsu"}, "42")
    assert entry.actor.email == "aud@example.org" and entry.at.tzinfo == timezone.utc


def test_downgrading_0009_turns_cancelled_rows_into_failed_ones(new_database_url):
    from sqlalchemy import text

    from server.db.models import Job, JobStatus

    url = new_database_url()
    upgrade(url)
    database = Database(url)
    try:
        with database.session() as session:
            session.add_all(
                [
                    Job(kind="deepfake.score", payload={}, status=JobStatus.CANCELLED),
                    Job(kind="deepfake.score", payload={}, status=JobStatus.QUEUED),
                ]
            )
            session.commit()
        downgrade(url, "0008")
        with database.engine.connect() as connection:
            rows = connection.execute(text("SELECT status, error FROM jobs ORDER BY id")).all()
        assert [tuple(row) for row in rows] == [("failed", "cancelled"), ("queued", None)]
        upgrade(url)
        assert schema_differences(database) == []
    finally:
        database.dispose()
