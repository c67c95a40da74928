"""The attendance service on the database (SQLite and MariaDB): which sightings a session gets,
and a student's own computation agreeing with the full one."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from server.attendance.service import attach_sightings, compute_session
from server.db.models import Classroom, Course, Device, LectureSession, Sighting, Student
from tests.server.attendance_seed import build_world

DAY = datetime(2026, 4, 6, tzinfo=timezone.utc)


def t(hhmm: str) -> datetime:
    hours, minutes = (int(x) for x in hhmm.split(":"))
    return DAY.replace(hour=hours, minute=minutes)


def test_attach_gives_each_sighting_to_the_nearest_session_of_its_room(app, db):
    room, elsewhere = Classroom(name="A-1"), Classroom(name="A-2")
    cam = Device(device_id="cam-a1", name="cam", classroom=room)
    far_cam = Device(device_id="cam-a2", name="cam 2", classroom=elsewhere)
    course = Course(code="M1", title="Maths", students=[Student(student_number="x1", name="X")])
    first = LectureSession(course=course, classroom=room, starts_at=t("09:00"), ends_at=t("10:00"))
    second = LectureSession(course=course, classroom=room, starts_at=t("10:10"), ends_at=t("11:00"))
    roomless = LectureSession(course=course, classroom=None, starts_at=t("09:00"), ends_at=t("10:00"))
    db.add_all([cam, far_cam, course, first, second, roomless])
    db.flush()
    taken = Sighting(event_id="taken", device=cam, session=second, track_id="k", captured_at=t("09:30"))
    times = {"08:49": None, "08:55": first, "09:30": first, "10:04": first, "10:05": first,
             "10:06": second, "10:30": second, "11:10": second, "11:11": None}  # fmt: skip
    db.add_all(
        [taken]
        + [Sighting(event_id=hhmm, device=cam, track_id="k", captured_at=t(hhmm)) for hhmm in times]
        + [Sighting(event_id="far", device=far_cam, track_id="k", captured_at=t("09:30"))]
    )
    db.commit()

    assert attach_sightings(db, roomless, app.config) == 0
    assert attach_sightings(db, second, app.config) == 3  # 10:06, 10:30, 11:10
    assert attach_sightings(db, first, app.config) == 4  # 08:55, 09:30, 10:04, 10:05 (a tie: the earlier)
    db.commit()
    assert attach_sightings(db, first, app.config) == 0 and attach_sightings(db, second, app.config) == 0

    db.expire_all()
    got = {s.event_id: s.session_id for s in db.scalars(select(Sighting))}
    assert got == {
        **{hhmm: (lecture.id if lecture else None) for hhmm, lecture in times.items()},
        "taken": second.id,
        "far": None,
    }


def test_a_students_own_computation_equals_the_full_one(app, db, make_user):
    w = build_world(db, make_user("instructor"), make_user("instructor"))
    lecture = db.get(LectureSession, w.session)
    attach_sightings(db, lecture, app.config)
    db.commit()
    full = compute_session(db, lecture, app.config)
    for sid in (w.s1, w.s2, w.s3, w.s4):
        alone = compute_session(db, lecture, app.config, [sid])
        assert [row.student_id for row in alone.result.students] == [sid]
        assert alone.result.student(sid) == full.result.student(sid)
    assert len(full.result.unknown_faces) == 2
    assert set(full.thumbnails) == {w.s1}
    assert full.result.plan.periods[1].start == lecture.starts_at + timedelta(hours=1)
