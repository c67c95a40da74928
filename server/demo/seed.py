"""Accounts, a classroom and a lecture happening now, for `visage demo` (idempotent).

Every run may reuse the instance folder: accounts, room, device, course and students are found
again rather than duplicated; only the lecture session is new (its time is "now"), and demo-room
sessions that would overlap it are removed first (the school rules allow no overlaps in a room).
A rerun replaces audibly and keeps what is not its own (issue 15): a removed session takes its
sightings, corrections and face reviews with it and leaves a `session.delete` audit entry; the
camera's sightings that no session holds (an earlier run's) are deleted, audited; students someone
added to the demo course stay on its roster, and demo students put back on it are a `roster.add`
entry. Ids are never reused (migration 0014), so the new lecture never shows an old one's trail.
Passwords are random, made on the first run and kept in the instance folder (mode 0600), so the
logins printed by later runs still work.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from server.audit import record
from server.auth.accounts import create_user, find_user
from server.auth.passwords import passwords
from server.db.enums import Role
from server.db.models import (
    AttendanceOverride,
    Classroom,
    Course,
    Device,
    LectureSession,
    Sighting,
    Student,
    UnknownFaceReview,
    User,
)
from server.enrolment import service as enrolment
from server.enrolment.photos import photos_of
from server.school.schedule import state as session_state
from server.school.students import enrol
from server.uploads.files import Upload

ACCOUNTS: tuple[tuple[str, str, Role], ...] = (
    ("admin@school.example", "Demo Administrator", Role.ADMIN),
    ("instructor@school.example", "Demo Instructor", Role.INSTRUCTOR),
    ("album@school.example", "Demo Album User", Role.ALBUM_USER),
)
ROOM, DEVICE_ID, COURSE_CODE = "Demo Room 101", "demo-cam-101", "DEMO101"
LOGINS_FILE = "demo-logins.json"
RESEED = "visage demo started again: the new lecture replaces this one"
SEEDED = "visage demo seed"


@dataclass(frozen=True)
class Login:
    email: str
    password: str
    role: str


@dataclass(frozen=True)
class DemoWorld:
    course_id: int
    session_id: int
    device_id: str
    students: dict[str, int]  # roster name -> student id
    enrolled_photos: int
    starts_at: datetime
    ends_at: datetime


def seed_accounts(app: Flask, session: Session, instance: Path) -> list[Login]:
    """The demo accounts, created with random passwords on first use (kept in `demo-logins.json`)."""
    path = instance / LOGINS_FILE
    known = json.loads(path.read_text()) if path.is_file() else {}
    logins = []
    for email, name, role in ACCOUNTS:
        password = known.get(email)
        user = find_user(session, email)
        if user is None or password is None:
            password = secrets.token_urlsafe(12)
            if user is None:
                create_user(
                    session, passwords(app), email=email, display_name=name, role=role, password=password
                )
            else:  # the logins file was lost: a new password, printed again
                user.password_hash = passwords(app).hash(password)
                session.commit()
            known[email] = password
        logins.append(Login(email, password, role.value))
    path.write_text(json.dumps(known, indent=1) + "\n")
    os.chmod(path, 0o600)
    return logins


def student_number(name: str) -> str:
    """A stable number per person, so a rerun finds the same students."""
    return "D" + hashlib.sha256(name.encode()).hexdigest()[:9].upper()


def _one(session: Session, model: type, **where: object):
    return session.scalars(select(model).filter_by(**where)).one_or_none()


def seed_school(
    session: Session,
    roster: Mapping[str, list[Path]],
    starts_at: datetime,
    duration_s: float,
    period_minutes: int = 60,
) -> DemoWorld:
    """Room, device, course taught by the demo instructor, students enrolled from their photos, and
    a lecture from `starts_at`. Needs an app context (the enrolment settings and face analyzer)."""
    instructor = find_user(session, ACCOUNTS[1][0])
    admin = find_user(session, ACCOUNTS[0][0])
    if instructor is None or admin is None:
        raise RuntimeError("seed_accounts must run first")
    room = _one(session, Classroom, name=ROOM) or Classroom(name=ROOM)
    device = _one(session, Device, device_id=DEVICE_ID) or Device(
        device_id=DEVICE_ID, name="Room 101 ceiling camera"
    )
    device.classroom = room
    course = _one(session, Course, code=COURSE_CODE) or Course(
        code=COURSE_CODE, title="Demo lecture (simulated classroom)"
    )
    course.instructor = instructor
    students: dict[str, Student] = {}
    for name in roster:
        number = student_number(name)
        student = _one(session, Student, student_number=number) or Student(student_number=number, name="")
        student.name = name.replace("_", " ")
        students[name] = student
    session.add_all([room, device, course, *students.values()])
    session.flush()
    # Students someone added to the roster stay on it; demo students missing from it come back, audited.
    enrol(session, None, course, list(students.values()), reason=SEEDED)

    ends_at = starts_at + timedelta(seconds=duration_s)
    lecture = replace_lecture(session, course, room, device, starts_at, ends_at, period_minutes)
    session.commit()

    enrolled = 0
    for name, student in students.items():
        if photos_of(session, student.id):
            continue
        uploads = [Upload(path.name, path.read_bytes()) for path in roster[name]]
        result = enrolment.upload_photos(session, student, uploads, admin)
        enrolled += len(result.accepted)
        session.commit()
    return DemoWorld(
        course_id=course.id,
        session_id=lecture.id,
        device_id=DEVICE_ID,
        students={name: student.id for name, student in students.items()},
        enrolled_photos=enrolled,
        starts_at=starts_at,
        ends_at=ends_at,
    )


def replace_lecture(
    session: Session,
    course: Course,
    room: Classroom,
    device: Device,
    starts_at: datetime,
    ends_at: datetime,
    period_minutes: int,
) -> LectureSession:
    """The new lecture, after deleting the demo room's sessions it would overlap (no overlaps in a
    room) with their evidence, and the demo camera's sightings that no session holds (left by an
    earlier run: `attach_sightings` would give them to the new lecture). Every deletion is audited."""
    overlapping = session.scalars(
        select(LectureSession).where(
            LectureSession.classroom_id == room.id,
            LectureSession.starts_at < ends_at,
            LectureSession.ends_at > starts_at,
        )
    ).all()
    for old in overlapping:
        evidence = {
            "sightings": _count(session, Sighting, Sighting.session_id == old.id),
            "overrides": _count(session, AttendanceOverride, AttendanceOverride.session_id == old.id),
            "reviews": _count(session, UnknownFaceReview, UnknownFaceReview.session_id == old.id),
        }
        before = {**session_state(old), "status": old.status.value, **evidence}
        record(session, None, "session.delete", "lecture_session", old.id, before=before, reason=RESEED)
        session.delete(old)  # the database deletes its sightings, overrides and reviews with it
    stray = Sighting.device_id == device.id, Sighting.session_id.is_(None)
    strays = _count(session, Sighting, *stray)
    if strays:
        session.execute(delete(Sighting).where(*stray))
        before = {"sightings": strays, "session": None}
        record(session, None, "sightings.delete", "device", device.id, before=before, reason=RESEED)
    lecture = LectureSession(
        course=course, classroom=room, starts_at=starts_at, ends_at=ends_at, period_minutes=period_minutes
    )
    session.add(lecture)
    session.flush()
    after = session_state(lecture)
    record(session, None, "session.create", "lecture_session", lecture.id, after=after, reason=SEEDED)
    return lecture


def _count(session: Session, model: type, *where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def demo_user(session: Session, role: Role) -> User | None:
    email = next(email for email, _, r in ACCOUNTS if r == role)
    return find_user(session, email)
