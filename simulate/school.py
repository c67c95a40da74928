"""The server side of a simulated lecture: the school rows, enrolment and the attendance it computes.

Everything goes through the server's own services (enrolment's face gate and gallery publishing,
the attendance service), so a simulation exercises the code a real deployment runs.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from server.db import get_db
from server.db.enums import Role
from server.db.models import Classroom, Course, Device, LectureSession, Sighting, Student, User
from server.enrolment import service
from server.uploads.files import Upload
from simulate.timeline import Truth


@dataclass(frozen=True)
class Scenario:
    """Ids of what `setup_school` created; `students` maps a person's name to a student id."""

    device_id: str
    course_id: int
    lecture_id: int
    students: dict[str, int]
    not_enrolled: tuple[str, ...] = ()  # roster members none of whose photos the face gate accepted


def setup_school(app: Flask, truth: Truth, tag: str | None = None) -> Scenario:
    """Room, device, course with the roster enrolled from `truth.enrol_dir`, and the lecture session."""
    tag = tag or secrets.token_hex(3)
    with app.app_context(), get_db(app).session() as db:
        actor = User(
            email=f"simulator-{tag}@visage.invalid",
            display_name="Classroom simulator",
            role=Role.ADMIN,
            password_hash=None,
            active=False,  # an author for the audit log, not an account anyone signs in with
        )
        room = Classroom(name=f"Simulated room {tag}")
        device = Device(device_id=f"sim-{tag}", name="Ceiling camera", classroom=room)
        course = Course(code=f"SIM-{tag}", title="Simulated lecture")
        db.add_all([actor, room, device, course])
        db.flush()
        students: dict[str, int] = {}
        for number, name in enumerate(truth.roster, start=1):
            student = Student(student_number=f"{tag}-{number:03d}", name=name.replace("_", " "))
            course.students.append(student)
            db.flush()
            students[name] = student.id
        db.add(
            LectureSession(
                course=course,
                classroom=room,
                starts_at=truth.lecture_start,
                ends_at=truth.lecture_end,
                period_minutes=60,
            )
        )
        db.flush()
        not_enrolled = []
        for name, student_id in students.items():
            folder = truth.enrol_dir / name
            uploads = [Upload(p.name, p.read_bytes()) for p in sorted(folder.iterdir())]
            if not service.upload_photos(db, db.get(Student, student_id), uploads, actor).accepted:
                not_enrolled.append(name)  # the gallery cannot hold them: reported, not hidden
        db.commit()
        lecture_id = db.scalar(select(LectureSession.id).where(LectureSession.course_id == course.id))
        return Scenario(device.device_id, course.id, int(lecture_id), students, tuple(not_enrolled))


def stored_event_ids(app: Flask, device_id: str) -> list[str]:
    """Every stored sighting's event id for the device (duplicates would show as repeats)."""
    with get_db(app).session() as db:
        return list(
            db.scalars(
                select(Sighting.event_id)
                .join(Device, Device.id == Sighting.device_id)
                .where(Device.device_id == device_id)
            )
        )


def student_sightings(app: Flask, device_id: str) -> dict[int, list[datetime]]:
    """student id -> capture times of their stored sightings (for the early-leave delay)."""
    out: dict[int, list[datetime]] = {}
    with get_db(app).session() as db:
        rows = db.execute(
            select(Sighting.student_id, Sighting.captured_at)
            .join(Device, Device.id == Sighting.device_id)
            .where(Device.device_id == device_id, Sighting.student_id.is_not(None))
        )
        for student_id, captured in rows:
            out.setdefault(int(student_id), []).append(captured)
    return out


def attendance(app: Flask, scenario: Scenario) -> tuple[dict[int, str], int]:
    """(student id -> session status, number of unknown-face groups) as the server reports them."""
    from server.attendance.service import compute_session

    with app.app_context(), get_db(app).session() as db:
        lecture = db.get(LectureSession, scenario.lecture_id)
        report = compute_session(db, lecture, app.config)  # ingest placed the sightings
        statuses = {int(row.student_id): str(row.status) for row in report.result.students}
        return statuses, len(report.result.unknown_faces)


def photo_paths(truth: Truth, name: str) -> list[Path]:
    folder = truth.enrol_dir / name
    return sorted(folder.iterdir()) if folder.is_dir() else []
