"""`visage demo` started again on the same data folder (issue 15): the restarted lecture gets a new
id, shows none of the old lecture's audit trail, sightings or corrections, and the roster keeps a
student someone added; every replacement is audited.

The seed-level test runs the demo's seed twice in-process; the slow one corrects the shared demo run
(`shared_demo`, tests/demo_support.py; the tests that read it run before this one), stops it with
Ctrl-C, starts the command again on the same instance folder and reads the second run over HTTP.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from server.attendance.loading import audit_trail
from server.audit import record
from server.db import get_db
from server.db.enums import AttendanceStatus
from server.db.models import AttendanceOverride, AuditLog, Course, Device, LectureSession, Sighting, Student
from server.demo.seed import ACCOUNTS, COURSE_CODE, seed_accounts, seed_school
from server.school import students
from tests.demo_support import DemoRun, csrf, poll, sign_in
from tests.test_demo_seed import classroom, make_app  # noqa: F401  (classroom is a fixture)

START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def test_reseeding_replaces_the_lecture_audibly_and_keeps_the_roster(classroom, tmp_path, registry):  # noqa: F811
    app = make_app(tmp_path)
    with app.app_context(), get_db(app).session() as session:
        seed_accounts(app, session, tmp_path)
        first = seed_school(session, classroom.enrol, START, classroom.duration_s)
        admin = session.scalars(select(Course)).one().instructor  # any actor will do for the arranging
        course = session.get(Course, first.course_id)
        extra = Student(student_number="EXTRA-1", name="Added By Hand")
        session.add(extra)
        session.flush()
        students.enrol(session, admin, course, [extra])
        dropped = session.get(Student, next(iter(first.students.values())))
        students.remove_from_roster(session, admin, course, [dropped.student_number])
        device_id = session.scalars(select(Device.id)).one()
        for minute in range(0, 30, 2):
            session.add(
                Sighting(
                    event_id=f"old-{minute}",
                    device_id=device_id,
                    session_id=first.session_id,
                    student_id=dropped.id,
                    track_id="1",
                    captured_at=START + timedelta(minutes=minute),
                    score=0.9,
                )
            )
        # A sighting of the first run that no session holds, in the second lecture's margin.
        session.add(
            Sighting(
                event_id="stray",
                device_id=device_id,
                student_id=dropped.id,
                track_id="2",
                captured_at=START + timedelta(minutes=15),
                score=0.9,
            )
        )
        session.add(
            AttendanceOverride(
                session_id=first.session_id,
                student_id=dropped.id,
                status=AttendanceStatus.EXCUSED,
                reason="old",
            )
        )
        record(session, admin, "attendance.confirm", "lecture_session", first.session_id)
        session.commit()

    later = START + timedelta(minutes=20)  # overlaps the first lecture: it is replaced
    with app.app_context(), get_db(app).session() as session:
        second = seed_school(session, classroom.enrol, later, classroom.duration_s)
        assert second.session_id > first.session_id
        assert [lecture.id for lecture in session.scalars(select(LectureSession))] == [second.session_id]
        assert session.scalars(select(Sighting)).all() == []  # the old lecture's and the stray one
        assert session.scalars(select(AttendanceOverride)).all() == []
        new = session.get(LectureSession, second.session_id)
        trail = [(entry.action, entry.reason) for entry in audit_trail(session, new)]
        assert trail == [("session.create", "visage demo seed")]

        old_trail = AuditLog.entity_type == "lecture_session", AuditLog.entity_id == str(first.session_id)
        gone = session.scalars(select(AuditLog).where(AuditLog.action == "session.delete", *old_trail)).one()
        assert (gone.before["sightings"], gone.before["overrides"]) == (15, 1)
        assert "started again" in gone.reason
        strays = session.scalars(select(AuditLog).where(AuditLog.action == "sightings.delete")).one()
        assert strays.before == {"sightings": 1, "session": None}

        roster = {s.student_number for s in session.get(Course, second.course_id).students}
        assert "EXTRA-1" in roster and dropped.student_number in roster
        readded = session.scalars(
            select(AuditLog).where(AuditLog.action == "roster.add").order_by(AuditLog.id.desc())
        ).first()
        assert readded.after == {"student_numbers": [dropped.student_number]}
        assert readded.actor_id is None and readded.reason == "visage demo seed"


@pytest.mark.slow
def test_the_demo_started_twice_shows_nothing_of_the_first_run(shared_demo: DemoRun):
    admin_email, instructor_email = ACCOUNTS[0][0], ACCOUNTS[1][0]
    base, logins, first_id = shared_demo.base, shared_demo.logins, shared_demo.session_id
    instructor = sign_in(base, instructor_email, logins[instructor_email])
    token = csrf(instructor, base)
    courses = instructor.get(base + "api/v1/courses", timeout=30).json()
    course = next(c for c in courses if c["code"] == COURSE_CODE)
    first = instructor.get(f"{base}api/v1/sessions/{first_id}/attendance", timeout=30).json()
    someone = first["students"][0]
    corrected = instructor.post(
        f"{base}api/v1/sessions/{first_id}/overrides",
        json={"student_id": someone["student_id"], "status": "excused", "reason": "first run"},
        headers={"X-CSRFToken": token},
        timeout=30,
    )
    assert corrected.status_code == 201, corrected.text
    admin = sign_in(base, admin_email, logins[admin_email])
    created = admin.post(
        base + "api/v1/students",
        json={"student_number": "KEEP-1", "name": "Kept"},
        headers={"X-CSRFToken": csrf(admin, base)},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    added = admin.post(
        f"{base}api/v1/courses/{course['id']}/roster",
        json={"student_numbers": ["KEEP-1"]},
        headers={"X-CSRFToken": csrf(admin, base)},
        timeout=30,
    )
    assert added.status_code == 200, added.text

    def recorded():
        data = instructor.get(f"{base}api/v1/sessions/{first_id}/attendance", timeout=30).json()
        return sum(s["evidence"]["sightings"] for s in data["students"]) or None

    assert poll(recorded, 150), "the first run recorded no sighting"
    shared_demo.stop()  # Ctrl-C: exit code 0, no process left (tests/test_demo_system.py's last check)

    restarted_at = datetime.now(timezone.utc).replace(microsecond=0)
    second = DemoRun.start(shared_demo.instance, shared_demo.faces)
    base, logins, second_id = second.base, second.logins, second.session_id
    try:
        assert second_id > first_id
        instructor = sign_in(base, instructor_email, logins[instructor_email])
        assert instructor.get(f"{base}api/v1/sessions/{first_id}/attendance", timeout=30).status_code == 404
        trail = instructor.get(f"{base}api/v1/sessions/{second_id}/audit", timeout=30).json()
        assert [entry["action"] for entry in trail] == ["session.create"]
        time.sleep(5)  # let the second run's device deliver something
        data = instructor.get(f"{base}api/v1/sessions/{second_id}/attendance", timeout=30).json()
        assert all(s["source"] == "engine" for s in data["students"])  # no correction of the first run
        seen = [s["evidence"]["first_seen"] for s in data["students"] if s["evidence"]["first_seen"]]
        assert all(datetime.fromisoformat(t.replace("Z", "+00:00")) >= restarted_at for t in seen), seen
        assert "KEEP-1" in {s["student_number"] for s in data["students"]}  # the roster kept them
        second.stop()
    finally:
        second.kill()
