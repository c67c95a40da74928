"""A course with a session running now, for the live roster tests (API, page and browser).

Ada is seen every 30 s from the start until 20 s ago (in the room), Cho until 5 min ago (out of the
room since then), Dan never (not seen); the same sightings a day earlier belong to a session that
has ended (no live state).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace

from server.db.models import Classroom, Course, Device, LectureSession, Sighting, Student


def heartbeat(first: datetime, last: datetime, step: timedelta = timedelta(seconds=30)) -> list[datetime]:
    out, t = [], first
    while t <= last:
        out.append(t)
        t += step
    return out


def live_world(db, owner, now: datetime) -> SimpleNamespace:
    """A session running now (started 30 min ago) and one that ended yesterday, same students:

    Ada seen every 30 s until 20 s ago (in), Cho until 5 min ago (out), Dan never (not seen)."""
    room = Classroom(name="R-live")
    cam = Device(device_id="cam-live", name="Live camera", classroom=room)
    ada = Student(student_number="L001", name="Ada Live")
    cho = Student(student_number="L003", name="Cho Live")
    dan = Student(student_number="L004", name="Dan Live")
    course = Course(code="LIVE1", title="Live roster", instructor=owner, students=[ada, cho, dan])
    start = now - timedelta(minutes=30)
    running = LectureSession(
        course=course, classroom=room, starts_at=start, ends_at=now + timedelta(minutes=30), period_minutes=60
    )
    ended = LectureSession(
        course=course,
        classroom=room,
        starts_at=start - timedelta(days=1),
        ends_at=now - timedelta(days=1),
        period_minutes=60,
    )
    db.add_all([room, cam, course, running, ended])
    db.flush()
    rows = []
    for session, day in ((running, timedelta(0)), (ended, timedelta(days=1))):
        for student, last in ((ada, now - timedelta(seconds=20)), (cho, now - timedelta(minutes=5))):
            for t in heartbeat(start - day, last - day):
                rows.append(
                    Sighting(
                        event_id=f"{session.id}-{student.student_number}-{t:%H%M%S}",
                        device=cam,
                        session=session,
                        student=student,
                        track_id="t1",
                        captured_at=t,
                        received_at=t + timedelta(seconds=1),
                        score=0.8,
                        quality=0.9,
                    )
                )
    db.add_all(rows)
    db.commit()
    return SimpleNamespace(
        running=running.id,
        device=cam.id,
        ended=ended.id,
        ada=ada.id,
        cho=cho.id,
        dan=dan.id,
        start=start,
        cho_last=now - timedelta(minutes=5),
    )


def see_until(db, world: SimpleNamespace, student: int, last: datetime, count: int = 40) -> None:
    """`count` sightings of `student` 30 s apart, ending at `last`, in the running session: what the
    live tests write while a page is open to see it refresh itself."""
    db.add_all(
        Sighting(
            event_id=f"see-{student}-{i}",
            device_id=world.device,
            session_id=world.running,
            student_id=student,
            track_id="t4",
            captured_at=last - timedelta(seconds=30 * i),
            score=0.9,
        )
        for i in range(count)
    )
    db.commit()
