"""The school endpoints of /api/v1: courses, students and rosters, classrooms, devices, sessions.

Roles: instructors (and administrators) reach course, roster, student and session endpoints and
see only their own courses' data (others' ids answer 404); classrooms may be listed by them (to
schedule) but created by administrators only; devices are the administrators'.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_babel import gettext
from flask_login import current_user
from sqlalchemy import or_, select

from server.api.endpoints import api_route
from server.attendance.refresh import session_scheduled
from server.db import db_session
from server.db.enums import Role
from server.db.models import Classroom, Device, Student
from server.school import access, courses, rooms, schedule, students
from server.school.errors import Invalid, NotFound
from server.school.schemas import (
    Classroom as ClassroomShape,
)
from server.school.schemas import (
    ClassroomRequest,
    CourseCreate,
    CourseRef,
    CourseUpdate,
    DeviceCreate,
    DeviceUpdate,
    LectureSession,
    LectureSessionCreate,
    LectureSessionsCreated,
    RosterAdded,
    RosterRemoved,
    RosterRequest,
    SessionQuery,
    StudentCreate,
    StudentDetail,
    StudentErased,
    StudentQuery,
    StudentUpdate,
)
from server.school.schemas import Course as CourseShape
from server.school.schemas import Device as DeviceShape
from server.school.schemas import Student as StudentShape

INSTRUCTOR = [Role.INSTRUCTOR]
ADMIN = [Role.ADMIN]

# --- courses -----------------------------------------------------------------------------------


def _courses(rows: list[Any]) -> list[CourseShape]:
    sizes = courses.roster_sizes(db_session, [course.id for course in rows])
    return [CourseShape.of(course, sizes.get(course.id, 0)) for course in rows]


@api_route("/courses", "GET", roles=INSTRUCTOR, response=list[CourseShape], tags=["school"])
def list_courses() -> list[CourseShape]:
    """Courses: all of them for administrators, the ones they teach for instructors."""
    return _courses(list(db_session.scalars(access.visible_courses(current_user))))


@api_route(
    "/courses",
    "POST",
    roles=ADMIN,
    request=CourseCreate,
    response=CourseShape,
    status=201,
    errors=[409],
    tags=["school"],
)
def create_course(body: CourseCreate) -> tuple[CourseShape, int]:
    """Create a course and (optionally) assign its instructor."""
    course = courses.create_course(db_session, current_user, body.sent())
    db_session.commit()
    return CourseShape.of(course, 0), 201


@api_route(
    "/courses/<int:course_id>", "GET", roles=INSTRUCTOR, response=CourseShape, errors=[404], tags=["school"]
)
def get_course(course_id: int) -> CourseShape:
    """One course."""
    return _courses([access.course_for(db_session, current_user, course_id)])[0]


@api_route(
    "/courses/<int:course_id>",
    "PATCH",
    roles=INSTRUCTOR,
    request=CourseUpdate,
    response=CourseShape,
    errors=[404, 409],
    tags=["school"],
)
def update_course(course_id: int, body: CourseUpdate) -> CourseShape:
    """Edit a course: its title (instructors), code and instructor (administrators)."""
    course = access.course_for(db_session, current_user, course_id)
    courses.update_course(db_session, current_user, course, body.sent())
    db_session.commit()
    return _courses([course])[0]


@api_route("/courses/<int:course_id>", "DELETE", roles=ADMIN, status=204, errors=[404, 409], tags=["school"])
def delete_course(course_id: int) -> tuple[str, int]:
    """Delete a course with its roster and schedule; refused (409) once attendance was recorded."""
    course = access.course_for(db_session, current_user, course_id)
    courses.delete_course(db_session, current_user, course)
    db_session.commit()
    return "", 204


# --- roster ------------------------------------------------------------------------------------


@api_route(
    "/courses/<int:course_id>/roster",
    "GET",
    roles=INSTRUCTOR,
    response=list[StudentShape],
    errors=[404],
    tags=["school"],
)
def get_roster(course_id: int) -> list[StudentShape]:
    """The students enrolled in a course, by student number."""
    course = access.course_for(db_session, current_user, course_id)
    faces = students.face_counts(db_session, [student.id for student in course.students])
    return [StudentShape.of(student, faces.get(student.id, 0)) for student in course.students]


@api_route(
    "/courses/<int:course_id>/roster",
    "POST",
    roles=INSTRUCTOR,
    request=RosterRequest,
    response=RosterAdded,
    errors=[404, 409],
    tags=["school"],
)
def add_to_roster(course_id: int, body: RosterRequest) -> RosterAdded:
    """Enrol students by number, in one batch (all or nothing)."""
    course = access.course_for(db_session, current_user, course_id)
    change = students.add_to_roster(db_session, current_user, course, students.roster_numbers(body.sent()))
    db_session.commit()
    return RosterAdded(
        added=[s.student_number for s in change.changed],
        already_enrolled=[s.student_number for s in change.unchanged],
        student_count=len(course.students),
    )


@api_route(
    "/courses/<int:course_id>/roster",
    "DELETE",
    roles=INSTRUCTOR,
    request=RosterRequest,
    response=RosterRemoved,
    errors=[404, 409],
    tags=["school"],
)
def remove_from_roster(course_id: int, body: RosterRequest) -> RosterRemoved:
    """Take students off a course's roster by number, in one batch (all or nothing)."""
    course = access.course_for(db_session, current_user, course_id)
    change = students.remove_from_roster(
        db_session, current_user, course, students.roster_numbers(body.sent())
    )
    db_session.commit()
    return RosterRemoved(
        removed=[s.student_number for s in change.changed],
        not_enrolled=[s.student_number for s in change.unchanged],
        student_count=len(course.students),
    )


# --- students ----------------------------------------------------------------------------------


def search(query: str) -> Any:
    """Student number prefix or name substring, regardless of case."""
    like = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(
        Student.student_number.like(f"{like.upper()}%", escape="\\"),
        Student.name.ilike(f"%{like}%", escape="\\"),
    )


@api_route(
    "/students",
    "GET",
    roles=INSTRUCTOR,
    response=list[StudentShape],
    tags=["school"],
    query=StudentQuery,
)
def list_students(query: StudentQuery) -> list[StudentShape]:
    """Students by number: all for administrators, those on their rosters for instructors."""
    statement = access.visible_students(current_user)
    text = query.q.strip()[:100]
    if text:
        statement = statement.where(search(text))
    rows = list(db_session.scalars(statement.limit(query.limit).offset(query.offset)))
    faces = students.face_counts(db_session, [s.id for s in rows])
    return [StudentShape.of(s, faces.get(s.id, 0)) for s in rows]


def _student_detail(student: Student) -> StudentDetail:
    faces = students.face_counts(db_session, [student.id])
    visible = [
        c for c in student.courses if access.is_admin(current_user) or c.instructor_id == current_user.id
    ]
    summary = StudentShape.of(student, faces.get(student.id, 0))
    return StudentDetail(**dict(summary), courses=[CourseRef.model_validate(c) for c in visible])


@api_route(
    "/students",
    "POST",
    roles=INSTRUCTOR,
    request=StudentCreate,
    response=StudentDetail,
    status=201,
    errors=[404, 409],
    tags=["school"],
)
def create_student(body: StudentCreate) -> tuple[StudentDetail, int]:
    """Create a student (instructors: on one of their courses' rosters at once)."""
    student = students.create_student(db_session, current_user, body.sent())
    db_session.commit()
    return _student_detail(student), 201


@api_route(
    "/students/<int:student_id>",
    "GET",
    roles=INSTRUCTOR,
    response=StudentDetail,
    errors=[404],
    tags=["school"],
)
def get_student(student_id: int) -> StudentDetail:
    """One student, with the courses of theirs the caller may see."""
    return _student_detail(access.student_for(db_session, current_user, student_id))


@api_route(
    "/students/<int:student_id>",
    "PATCH",
    roles=INSTRUCTOR,
    request=StudentUpdate,
    response=StudentDetail,
    errors=[404, 409],
    tags=["school"],
)
def update_student(student_id: int, body: StudentUpdate) -> StudentDetail:
    """Edit a student's number or name (and, administrators, their linked account)."""
    student = access.student_for(db_session, current_user, student_id)
    students.update_student(db_session, current_user, student, body.sent())
    db_session.commit()
    return _student_detail(student)


@api_route(
    "/students/<int:student_id>",
    "DELETE",
    roles=INSTRUCTOR,
    response=StudentErased,
    errors=[404],
    tags=["school"],
)
def delete_student(student_id: int) -> StudentErased:
    """Delete a student and every stored face of theirs (templates, photos, sightings); audited.

    Instructors may delete only students whose courses are all theirs (403 otherwise)."""
    student = access.student_for(db_session, current_user, student_id)
    deleted = students.erase_student(db_session, current_user, student)
    db_session.commit()
    return StudentErased.model_validate({"deleted": deleted})


# --- classrooms and devices --------------------------------------------------------------------


@api_route("/classrooms", "GET", roles=INSTRUCTOR, response=list[ClassroomShape], tags=["school"])
def list_classrooms() -> list[ClassroomShape]:
    """Classrooms by name, with the devices installed in each."""
    rows = db_session.scalars(select(Classroom).order_by(Classroom.name))
    return [ClassroomShape.of(room) for room in rows]


@api_route(
    "/classrooms",
    "POST",
    roles=ADMIN,
    request=ClassroomRequest,
    response=ClassroomShape,
    status=201,
    errors=[409],
    tags=["school"],
)
def create_classroom(body: ClassroomRequest) -> tuple[ClassroomShape, int]:
    """Create a classroom."""
    room = rooms.create_classroom(db_session, current_user, body.sent())
    db_session.commit()
    return ClassroomShape.of(room), 201


@api_route(
    "/classrooms/<int:classroom_id>",
    "PATCH",
    roles=ADMIN,
    request=ClassroomRequest,
    response=ClassroomShape,
    errors=[404, 409],
    tags=["school"],
)
def update_classroom(classroom_id: int, body: ClassroomRequest) -> ClassroomShape:
    """Rename a classroom."""
    room = db_session.get(Classroom, classroom_id)
    if room is None:
        raise NotFound(gettext("no classroom with id %(id)s", id=classroom_id))
    rooms.update_classroom(db_session, current_user, room, body.sent())
    db_session.commit()
    return ClassroomShape.of(room)


@api_route("/devices", "GET", roles=ADMIN, response=list[DeviceShape], tags=["school"])
def list_devices() -> list[DeviceShape]:
    """Registered devices by id."""
    return [DeviceShape.of(d) for d in db_session.scalars(select(Device).order_by(Device.device_id))]


@api_route(
    "/devices",
    "POST",
    roles=ADMIN,
    request=DeviceCreate,
    response=DeviceShape,
    status=201,
    errors=[409],
    tags=["school"],
)
def create_device(body: DeviceCreate) -> tuple[DeviceShape, int]:
    """Register a device by the id it publishes under, optionally in a classroom."""
    device = rooms.create_device(db_session, current_user, body.sent())
    db_session.commit()
    return DeviceShape.of(device), 201


@api_route(
    "/devices/<int:device_pk>",
    "PATCH",
    roles=ADMIN,
    request=DeviceUpdate,
    response=DeviceShape,
    errors=[404],
    tags=["school"],
)
def update_device(device_pk: int, body: DeviceUpdate) -> DeviceShape:
    """Rename a device or move it to another classroom (`classroom_id` null: uninstalled).

    The path takes the device's numeric `id` (not its `device_id`)."""
    device = db_session.get(Device, device_pk)
    if device is None:
        raise NotFound(gettext("no device with id %(id)s", id=device_pk))
    rooms.update_device(db_session, current_user, device, body.sent())
    db_session.commit()
    return DeviceShape.of(device)


# --- sessions ----------------------------------------------------------------------------------


@api_route(
    "/courses/<int:course_id>/sessions",
    "GET",
    roles=INSTRUCTOR,
    response=list[LectureSession],
    errors=[404],
    tags=["school"],
    query=SessionQuery,
)
def list_sessions(course_id: int, query: SessionQuery) -> list[LectureSession]:
    """A course's lecture sessions that overlap [from, to), by start time."""
    course = access.course_for(db_session, current_user, course_id)
    start, end = query.since, query.until
    if start is not None and end is not None and end <= start:
        raise Invalid("'to' must be after 'from'")
    return [LectureSession.of(s) for s in schedule.sessions_between(db_session, course, start, end)]


@api_route(
    "/courses/<int:course_id>/sessions",
    "POST",
    roles=INSTRUCTOR,
    request=LectureSessionCreate,
    response=LectureSessionsCreated,
    status=201,
    errors=[404, 409],
    tags=["school"],
)
def create_sessions(course_id: int, body: LectureSessionCreate) -> tuple[LectureSessionsCreated, int]:
    """Schedule one lecture session or a weekly series in a classroom (all or nothing)."""
    course = access.course_for(db_session, current_user, course_id)
    created = schedule.create_sessions(db_session, current_user, course, body.sent())
    session_scheduled(db_session, created, current_app.config)
    db_session.commit()
    return LectureSessionsCreated(sessions=[LectureSession.of(s) for s in created]), 201


@api_route(
    "/sessions/<int:session_id>",
    "GET",
    roles=INSTRUCTOR,
    response=LectureSession,
    errors=[404],
    tags=["school"],
)
def get_lecture_session(session_id: int) -> LectureSession:
    """One lecture session."""
    return LectureSession.of(access.session_for(db_session, current_user, session_id))


@api_route(
    "/sessions/<int:session_id>", "DELETE", roles=INSTRUCTOR, status=204, errors=[404, 409], tags=["school"]
)
def delete_lecture_session(session_id: int) -> tuple[str, int]:
    """Delete a lecture session that holds no attendance yet (else 409)."""
    lecture = access.session_for(db_session, current_user, session_id)
    schedule.delete_session(db_session, current_user, lecture)
    db_session.commit()
    return "", 204
