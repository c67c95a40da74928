"""Stable identity (issue 15): a deleted record's id is never handed out again, and nothing of a
deleted session, course or student (audit trail, sightings, overrides, unknown-face reviews,
faces) attaches to the record created after it (SQLite and MariaDB)."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, inspect, select, text

from server.attendance.service import attach_sightings, compute_session
from server.audit import record
from server.db import Base, Database
from server.db.enums import AttendanceStatus, ReviewDecision
from server.db.models import (
    AttendanceOverride,
    AuditLog,
    Classroom,
    Course,
    Device,
    FaceTemplate,
    LectureSession,
    Sighting,
    Student,
    UnknownFaceReview,
)
from server.school import courses, students

START = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
END = START + timedelta(hours=2)


def count(db, model, *where) -> int:
    db.expire_all()
    return int(db.scalar(select(func.count()).select_from(model).where(*where)))


def lecture_with_evidence(db, owner) -> tuple[LectureSession, Student, Device]:
    """A session with everything that hangs off one: sightings (a student's, an unknown track's),
    an override, a review of the unknown track and audit entries, all committed."""
    room = Classroom(name="R-1")
    cam = Device(device_id="cam-1", name="R-1 ceiling", classroom=room)
    kim = Student(student_number="S-1", name="Kim")
    course = Course(code="C-1", title="One", instructor=owner, students=[kim])
    lecture = LectureSession(course=course, classroom=room, starts_at=START, ends_at=END, period_minutes=60)
    db.add_all([room, cam, course, lecture])
    db.flush()
    for minute in range(0, 120, 2):
        at = START + timedelta(minutes=minute)
        db.add(Sighting(event_id=f"k{minute}", device=cam, session=lecture, student=kim, track_id="1",
                        captured_at=at, score=0.9))
        db.add(Sighting(event_id=f"u{minute}", device=cam, session=lecture, track_id="9", captured_at=at,
                        score=0.2))
    override = AttendanceOverride(session_id=lecture.id, student_id=kim.id, period_index=None,
                                  status=AttendanceStatus.EXCUSED, reason="old note", actor_id=owner.id)
    review = UnknownFaceReview(session_id=lecture.id, device_id=cam.id, track_id="9",
                               decision=ReviewDecision.NOT_A_STUDENT, actor_id=owner.id)
    db.add_all([override, review])
    db.flush()
    record(db, owner, "attendance.override", "lecture_session", lecture.id, after={"status": "excused"})
    record(db, owner, "attendance.confirm", "lecture_session", lecture.id)
    db.commit()
    return lecture, kim, cam


def test_a_deleted_session_leaves_nothing_to_the_next_one(app, client, db, make_user, make_token):
    owner = make_user("instructor")
    old, kim, cam = lecture_with_evidence(db, owner)
    old_id, course_id, room_id = old.id, old.course_id, old.classroom_id
    assert count(db, Sighting, Sighting.session_id == old_id) == 120

    db.delete(old)  # what the demo's reseed did (the API refuses a session with evidence)
    db.commit()
    # The evidence went with it (sightings CASCADE, no longer SET NULL); the audit rows stay.
    assert count(db, Sighting) == 0
    assert count(db, AttendanceOverride) == count(db, UnknownFaceReview) == 0
    assert count(db, AuditLog, AuditLog.entity_id == str(old_id)) == 2

    new = LectureSession(course_id=course_id, classroom_id=room_id, starts_at=START, ends_at=END,
                         period_minutes=60)
    db.add(new)
    db.commit()
    assert new.id > old_id  # the newest row was deleted: SQLite without AUTOINCREMENT gave its id again
    assert attach_sightings(db, new, app.config) == 0
    report = compute_session(db, new, app.config)
    row = report.result.student(kim.id)
    assert (row.status.value, row.evidence.sightings, row.source.value) == ("absent", 0, "engine")
    assert report.result.unknown_faces == () and report.overrides == {}

    headers = {"Authorization": f"Bearer {make_token(owner)}"}
    trail = client.get(f"/api/v1/sessions/{new.id}/audit", headers=headers)
    assert trail.status_code == 200 and trail.get_json() == []
    # A sighting recorded later in that room and time is the new session's, as ingest would place it.
    db.add(Sighting(event_id="fresh", device_id=cam.id, student_id=kim.id, track_id="2",
                    captured_at=START + timedelta(minutes=5), score=0.9))
    db.commit()
    assert attach_sightings(db, new, app.config) == 1


def test_a_deleted_course_or_student_gives_its_id_to_no_one(app, db, make_user):
    admin = make_user("admin")
    course = courses.create_course(db, admin, {"code": "OLD-1", "title": "Old"})
    student = students.create_student(db, admin, {"student_number": "OLD-S", "name": "Old Student"})
    db.flush()
    students.enrol(db, admin, course, [student])
    db.add(FaceTemplate(student=student, embedding=b"\0" * 512, dim=128, model="sface@1"))
    db.commit()
    course_id, student_id = course.id, student.id

    students.erase_student(db, admin, student)
    courses.delete_course(db, admin, db.get(Course, course_id))
    db.commit()
    actions = db.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions == [
        "course.create",
        "student.create",
        "roster.add",
        "roster.remove",  # erasing the student took them off the course, in the course's own trail
        "student.delete",
        "course.delete",
    ]

    course2 = courses.create_course(db, admin, {"code": "NEW-1", "title": "New"})
    student2 = students.create_student(db, admin, {"student_number": "NEW-S", "name": "New Student"})
    db.commit()
    assert course2.id > course_id and student2.id > student_id
    assert course2.students == [] and count(db, FaceTemplate, FaceTemplate.student_id == student2.id) == 0
    trail = db.scalars(
        select(AuditLog.action).where(AuditLog.entity_type == "course", AuditLog.entity_id == str(course2.id))
    ).all()
    assert trail == ["course.create"]


def test_every_table_with_a_surrogate_key_never_reuses_ids(new_database_url, backend):
    """Migrated from empty: on SQLite every such table is AUTOINCREMENT (so is any table added later,
    or this fails); on MariaDB every table is InnoDB on a server whose counters persist (>= 10.2.4)."""
    from server.db.migrate import upgrade

    url = new_database_url()
    upgrade(url)
    database = Database(url)
    try:
        with database.engine.connect() as connection:
            if backend == "sqlite":
                query = text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
                sql = dict(connection.execute(query).all())
            else:
                engines = dict(connection.execute(text(
                    "SELECT table_name, engine FROM information_schema.tables WHERE table_schema = DATABASE()"
                )).all())
                version = connection.execute(text("SELECT VERSION()")).scalar()
        surrogate = [
            table.name
            for table in Base.metadata.sorted_tables
            if len(table.primary_key.columns) == 1
            and not next(iter(table.primary_key.columns)).foreign_keys
        ]
        assert {"lecture_sessions", "sightings", "audit_log", "students", "courses"} <= set(surrogate)
        for name in surrogate:
            assert Base.metadata.tables[name].kwargs.get("sqlite_autoincrement") is True, name
            if backend == "sqlite":
                assert "AUTOINCREMENT" in sql[name], name
            else:
                assert engines[name] == "InnoDB", name
        if backend == "mariadb":
            assert tuple(int(part) for part in version.split("-")[0].split(".")[:3]) >= (10, 2, 4)
        assert set(Base.metadata.tables) <= set(inspect(database.engine).get_table_names())
    finally:
        database.dispose()


def test_a_csv_import_audits_the_students_it_puts_on_the_roster(client, db, make_user, make_token):
    admin = make_user("admin")
    course = courses.create_course(db, admin, {"code": "CSV-1", "title": "Imported"})
    db.commit()
    response = client.post(
        f"/api/v1/courses/{course.id}/enrolment/import",
        data={"students": (io.BytesIO(b"student_number,name\nI-1,Ima\nI-2,Ivo\n"), "students.csv")},
        headers={"Authorization": f"Bearer {make_token(admin)}"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    db.expire_all()
    entry = db.scalars(select(AuditLog).where(AuditLog.action == "roster.add")).one()
    assert (entry.entity_id, entry.before, entry.after, entry.reason) == (
        str(course.id),
        {"roster_size": 0},
        {"student_numbers": ["I-1", "I-2"]},
        "enrolment import",
    )
