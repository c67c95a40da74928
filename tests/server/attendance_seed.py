"""A small, fully known classroom for the attendance tests (API, web pages and the browser test).

CS101 (instructor `owner`) meets in room R-101 on Monday 2 March 2026, 09:00-11:00 UTC, in two
hourly periods. The room's camera `cam-r101` recorded, every two minutes:

=========  ============================  =====================================================
student    seen                          expected (default policy)
=========  ============================  =====================================================
S1 Ada     09:00-11:00                   present, present / present (a thumbnail on one sighting)
S2 Ben     09:25-11:00 (no session yet)  late, present / late   (the session's refresh attaches them)
S3 Cho     09:00-10:20                   present, absent / left_early
S4 Dan     never                         absent, absent / absent
=========  ============================  =====================================================

plus two unknown faces (track u1: 09:05-09:55 every 2 min, 26 sightings with a thumbnail;
track u2: 10:30-10:34, 3 sightings), a sighting from another room's camera at the same time
(must not be attached), and a second CS101 session a week later with no sightings. CS202 is
another instructor's course with its own session and student S5.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

from PIL import Image
from sqlalchemy import select

from server.attendance.refresh import refresh_session
from server.db.models import Classroom, Course, Device, LectureSession, Sighting, Student, User

START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
END = START + timedelta(hours=2)
STEP = timedelta(minutes=2)


def at(hhmm: str, day: datetime = START) -> datetime:
    hours, minutes = (int(part) for part in hhmm.split(":"))
    return day.replace(hour=hours, minute=minutes)


def series(first: str, last: str) -> list[datetime]:
    """Every two minutes from `first` to `last` inclusive."""
    times, t, stop = [], at(first), at(last)
    while t <= stop:
        times.append(t)
        t += STEP
    return times


def jpeg(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 48), colour).save(buffer, "JPEG")
    return buffer.getvalue()


def as_stored(db, config: Mapping[str, Any] | None = None) -> None:
    """What happens to sightings the server stores (ingest's `attendance.refresh` job, or the
    scheduling of a session): every session takes its room's free sightings and lists its unknown
    faces. The seeds insert rows directly, so they call it themselves; pages only read."""
    for lecture in db.scalars(select(LectureSession).order_by(LectureSession.id)).all():
        refresh_session(db, lecture, config or {})


def seeded_world(make_user, db, *, with_student: bool = False) -> SimpleNamespace:
    """The usual cast (Olga the owner, Oscar another instructor, Ada a student user when asked) and
    their world; the users are on it as `owner`, `other` and `student_user`."""
    owner = make_user("instructor", email="owner@school.example", display_name="Olga Owner")
    other = make_user("instructor", email="other@school.example", display_name="Oscar Other")
    student_user = (
        make_user("student", email="ada@school.example", display_name="Ada Lovelace")
        if with_student
        else None
    )
    world = build_world(db, owner, other, student_user)
    world.owner, world.other, world.student_user = owner, other, student_user
    return world


def build_world(db, owner: User, other: User, student_user: User | None = None) -> SimpleNamespace:
    """Insert the classroom described above (committed); returns the ids the tests need."""
    room, other_room = Classroom(name="R-101"), Classroom(name="R-202")
    cam = Device(device_id="cam-r101", name="R-101 ceiling", classroom=room)
    other_cam = Device(device_id="cam-r202", name="R-202 ceiling", classroom=other_room)
    s1 = Student(student_number="2026001", name="Ada Lovelace", user=student_user)
    s2 = Student(student_number="2026002", name="Ben Okafor")
    s3 = Student(student_number="2026003", name="Cho Min-jun")
    s4 = Student(student_number="2026004", name="Dan Ivers")
    s5 = Student(student_number="2026005", name="Eve Other")
    course = Course(
        code="CS101", title="Introduction to Computing", instructor=owner, students=[s1, s2, s3, s4]
    )
    other_course = Course(code="CS202", title="Data Structures", instructor=other, students=[s5])
    lecture = LectureSession(course=course, classroom=room, starts_at=START, ends_at=END, period_minutes=60)
    later = LectureSession(
        course=course,
        classroom=room,
        starts_at=START + timedelta(days=7),
        ends_at=END + timedelta(days=7),
        period_minutes=60,
    )
    other_lecture = LectureSession(
        course=other_course, classroom=other_room, starts_at=START, ends_at=END, period_minutes=60
    )
    db.add_all([room, other_room, cam, other_cam, course, other_course, lecture, later, other_lecture])
    db.flush()

    rows: list[Sighting] = []

    def sight(
        student: Student | None,
        times: list[datetime],
        track: str,
        *,
        session=lecture,
        device=cam,
        thumbnail_at: int | None = None,
        colour=(200, 120, 90),
    ) -> None:
        for i, t in enumerate(times):
            rows.append(
                Sighting(
                    event_id=f"{device.device_id}-{track}-{t:%H%M}",
                    device=device,
                    session=session,
                    student=student,
                    track_id=track,
                    captured_at=t,
                    received_at=t + timedelta(seconds=3),
                    score=0.8 + (i % 5) / 100,
                    quality=0.9,
                    thumbnail=jpeg(colour) if thumbnail_at == i else None,
                )
            )

    sight(s1, series("09:00", "11:00"), "t1", thumbnail_at=10)
    sight(s2, series("09:25", "11:00"), "t2", session=None)  # ingest did not know the session
    sight(s3, series("09:00", "10:20"), "t3")
    sight(None, series("09:05", "09:55"), "u1", session=None, thumbnail_at=3, colour=(90, 120, 200))
    sight(None, series("10:30", "10:34"), "u2")
    sight(s5, series("09:00", "09:10"), "t5", session=None, device=other_cam)  # another room
    sight(s1, [at("09:00", START + timedelta(days=1))], "t9", session=None)  # the next day
    db.add_all(rows)
    db.commit()
    as_stored(db)
    return SimpleNamespace(
        course=course.id,
        other_course=other_course.id,
        session=lecture.id,
        later_session=later.id,
        other_session=other_lecture.id,
        room=room.id,
        device=cam.id,
        other_device=other_cam.id,
        s1=s1.id,
        s2=s2.id,
        s3=s3.id,
        s4=s4.id,
        s5=s5.id,
        numbers={s.id: s.student_number for s in (s1, s2, s3, s4, s5)},
    )
