"""The school endpoints of /api/v1: courses, students and rosters, classrooms, devices, sessions.

Roles: instructors (and administrators) reach course, roster, student and session endpoints and
see only their own courses' data (others' ids answer 404); classrooms may be listed by them (to
schedule) but created by administrators only; devices are the administrators'.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import request
from flask_login import current_user
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from server.api.endpoints import api_route, registry
from server.api.io import json_body, query_int
from server.db import db_session
from server.db.enums import Role
from server.db.models import Classroom, Device, Student
from server.db.types import INT_MAX
from server.school import access, courses, fields, rooms, schedule, students
from server.school.errors import Invalid, NotFound, SchoolError
from server.school.serialize import (
    CLASSROOM,
    COURSE,
    DEVICE,
    LECTURE_SESSION,
    STUDENT,
    STUDENT_DETAIL,
    classroom_json,
    course_json,
    course_ref,
    device_json,
    session_json,
    student_json,
)
from server.school.times import instant

INSTRUCTOR = [Role.INSTRUCTOR]
ADMIN = [Role.ADMIN]
CONCURRENT = (
    "the change conflicts with another one made at the same time (e.g. a duplicate): reload and retry"
)


def answers_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """Service errors -> `{"error": sentence, ...details}` with their status; nothing is kept."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except SchoolError as error:
            db_session.rollback()
            return {"error": error.message, **error.details}, error.status
        except IntegrityError:
            db_session.rollback()
            return {"error": CONCURRENT}, 409

    return wrapped


# --- request schemas ---------------------------------------------------------------------------

COURSE_CREATE = registry.schema(
    "CourseCreate",
    {
        "type": "object",
        "properties": {
            "code": fields.text_schema(32),
            "title": fields.text_schema(200),
            "instructor_id": fields.NULLABLE_ID_SCHEMA,
        },
        "required": ["code", "title"],
        "additionalProperties": False,
    },
)
COURSE_UPDATE = registry.schema(
    "CourseUpdate",
    {
        "type": "object",
        "description": "Instructors may change the title; code and instructor_id are for administrators.",
        "properties": {
            "code": fields.text_schema(32),
            "title": fields.text_schema(200),
            "instructor_id": fields.NULLABLE_ID_SCHEMA,
        },
        "additionalProperties": False,
    },
)
_STUDENT_PROPS = {
    "student_number": fields.STUDENT_NUMBER_SCHEMA,
    "name": fields.text_schema(200),
    "user_id": {**fields.NULLABLE_ID_SCHEMA, "description": "A 'student' account (administrators only)."},
}
STUDENT_CREATE = registry.schema(
    "StudentCreate",
    {
        "type": "object",
        "properties": {
            **_STUDENT_PROPS,
            "course_id": {
                **fields.NULLABLE_ID_SCHEMA,
                "description": "Put the new student on this course's roster (required for instructors).",
            },
        },
        "required": ["student_number", "name"],
        "additionalProperties": False,
    },
)
STUDENT_UPDATE = registry.schema(
    "StudentUpdate", {"type": "object", "properties": _STUDENT_PROPS, "additionalProperties": False}
)
ROSTER_REQUEST = registry.schema(
    "RosterRequest",
    {
        "type": "object",
        "properties": {
            "student_numbers": {
                "type": "array",
                "items": {"type": "string"},
                "minItems": 1,
                "maxItems": students.MAX_ROSTER_BATCH,
            }
        },
        "required": ["student_numbers"],
        "additionalProperties": False,
        "description": "All or nothing: one unknown number changes nothing (400 lists them in "
        "`unknown_student_numbers`).",
    },
)
_NUMBERS = {"type": "array", "items": {"type": "string"}}
ROSTER_ADDED = registry.schema(
    "RosterAdded",
    {
        "type": "object",
        "properties": {"added": _NUMBERS, "already_enrolled": _NUMBERS, "student_count": {"type": "integer"}},
        "required": ["added", "already_enrolled", "student_count"],
    },
)
ROSTER_REMOVED = registry.schema(
    "RosterRemoved",
    {
        "type": "object",
        "properties": {"removed": _NUMBERS, "not_enrolled": _NUMBERS, "student_count": {"type": "integer"}},
        "required": ["removed", "not_enrolled", "student_count"],
    },
)
STUDENT_ERASED = registry.schema(
    "StudentErased",
    {
        "type": "object",
        "properties": {
            "deleted": {
                "type": "object",
                "properties": {
                    "face_templates": {"type": "integer"},
                    "sightings": {"type": "integer"},
                    "overrides": {"type": "integer"},
                },
            }
        },
        "required": ["deleted"],
    },
)
CLASSROOM_REQUEST = registry.schema(
    "ClassroomRequest",
    {
        "type": "object",
        "properties": {"name": fields.text_schema(100)},
        "required": ["name"],
        "additionalProperties": False,
    },
)
_DEVICE_PROPS = {
    "device_id": fields.DEVICE_ID_SCHEMA,
    "name": fields.text_schema(100),
    "classroom_id": fields.NULLABLE_ID_SCHEMA,
}
DEVICE_CREATE = registry.schema(
    "DeviceCreate",
    {
        "type": "object",
        "properties": {
            **_DEVICE_PROPS,
            "name": {
                "anyOf": [fields.text_schema(100), {"type": "null"}, {"type": "string", "maxLength": 0}],
                "description": "Null or empty: the device_id.",
            },
        },
        "required": ["device_id"],
        "additionalProperties": False,
    },
)
DEVICE_UPDATE = registry.schema(
    "DeviceUpdate",
    {
        "type": "object",
        "description": "Rename or move a device; its device_id cannot change.",
        "properties": {k: v for k, v in _DEVICE_PROPS.items() if k != "device_id"},
        "additionalProperties": False,
    },
)
_OFFSET_DATETIME = {
    "type": "string",
    "format": "date-time",
    "description": "ISO 8601 with a UTC offset (naive times are refused).",
}
SESSION_CREATE = registry.schema(
    "LectureSessionCreate",
    {
        "type": "object",
        "description": "One session (starts_at, ends_at) or a weekly series (weekly), all or nothing; "
        "a session overlapping another in the same classroom is refused with 409.",
        "properties": {
            "classroom_id": {"type": "integer"},
            "period_minutes": {"type": "integer", "minimum": 1, "maximum": 1440, "default": 60},
            "starts_at": _OFFSET_DATETIME,
            "ends_at": _OFFSET_DATETIME,
            "weekly": {
                "type": "object",
                "properties": {
                    "weekday": {"type": "string", "description": "A day name: 'monday' or 'mon'."},
                    "start_time": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]", "example": "09:00"},
                    "duration_minutes": {"type": "integer", "minimum": 1, "maximum": 1440},
                    "first_date": {"type": "string", "format": "date"},
                    "last_date": {"type": "string", "format": "date"},
                    "timezone": {"type": "string", "description": "IANA zone, e.g. Asia/Seoul."},
                },
                "required": [
                    "weekday",
                    "start_time",
                    "duration_minutes",
                    "first_date",
                    "last_date",
                    "timezone",
                ],
                "additionalProperties": False,
            },
        },
        "required": ["classroom_id"],
        "oneOf": [{"required": ["starts_at", "ends_at"]}, {"required": ["weekly"]}],
        "additionalProperties": False,
    },
)
SESSIONS_CREATED = registry.schema(
    "LectureSessionsCreated",
    {
        "type": "object",
        "properties": {"sessions": {"type": "array", "items": LECTURE_SESSION}},
        "required": ["sessions"],
    },
)


# --- courses -----------------------------------------------------------------------------------


def _courses_json(rows: list[Any]) -> list[dict[str, Any]]:
    sizes = courses.roster_sizes(db_session, [course.id for course in rows])
    return [course_json(course, sizes.get(course.id, 0)) for course in rows]


@api_route("/courses", "GET", roles=INSTRUCTOR, response={"type": "array", "items": COURSE}, tags=["school"])
def list_courses() -> list[dict[str, Any]]:
    """Courses: all of them for administrators, the ones they teach for instructors."""
    return _courses_json(list(db_session.scalars(access.visible_courses(current_user))))


@api_route(
    "/courses",
    "POST",
    roles=ADMIN,
    request=COURSE_CREATE,
    response=COURSE,
    status=201,
    errors=[409],
    tags=["school"],
)
@answers_errors
def create_course() -> tuple[dict[str, Any], int]:
    """Create a course and (optionally) assign its instructor."""
    course = courses.create_course(db_session, current_user, json_body())
    db_session.commit()
    return course_json(course, 0), 201


@api_route(
    "/courses/<int:course_id>", "GET", roles=INSTRUCTOR, response=COURSE, errors=[404], tags=["school"]
)
@answers_errors
def get_course(course_id: int) -> dict[str, Any]:
    """One course."""
    return _courses_json([access.course_for(db_session, current_user, course_id)])[0]


@api_route(
    "/courses/<int:course_id>",
    "PATCH",
    roles=INSTRUCTOR,
    request=COURSE_UPDATE,
    response=COURSE,
    errors=[404, 409],
    tags=["school"],
)
@answers_errors
def update_course(course_id: int) -> dict[str, Any]:
    """Edit a course: its title (instructors), code and instructor (administrators)."""
    course = access.course_for(db_session, current_user, course_id)
    courses.update_course(db_session, current_user, course, json_body())
    db_session.commit()
    return _courses_json([course])[0]


@api_route("/courses/<int:course_id>", "DELETE", roles=ADMIN, status=204, errors=[404, 409], tags=["school"])
@answers_errors
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
    response={"type": "array", "items": STUDENT},
    errors=[404],
    tags=["school"],
)
@answers_errors
def get_roster(course_id: int) -> list[dict[str, Any]]:
    """The students enrolled in a course, by student number."""
    course = access.course_for(db_session, current_user, course_id)
    faces = students.face_counts(db_session, [student.id for student in course.students])
    return [student_json(student, faces.get(student.id, 0)) for student in course.students]


@api_route(
    "/courses/<int:course_id>/roster",
    "POST",
    roles=INSTRUCTOR,
    request=ROSTER_REQUEST,
    response=ROSTER_ADDED,
    errors=[404, 409],
    tags=["school"],
)
@answers_errors
def add_to_roster(course_id: int) -> dict[str, Any]:
    """Enrol students by number, in one batch (all or nothing)."""
    course = access.course_for(db_session, current_user, course_id)
    change = students.add_to_roster(db_session, current_user, course, students.roster_numbers(json_body()))
    db_session.commit()
    return {
        "added": [s.student_number for s in change.changed],
        "already_enrolled": [s.student_number for s in change.unchanged],
        "student_count": len(course.students),
    }


@api_route(
    "/courses/<int:course_id>/roster",
    "DELETE",
    roles=INSTRUCTOR,
    request=ROSTER_REQUEST,
    response=ROSTER_REMOVED,
    errors=[404, 409],
    tags=["school"],
)
@answers_errors
def remove_from_roster(course_id: int) -> dict[str, Any]:
    """Take students off a course's roster by number, in one batch (all or nothing)."""
    course = access.course_for(db_session, current_user, course_id)
    change = students.remove_from_roster(
        db_session, current_user, course, students.roster_numbers(json_body())
    )
    db_session.commit()
    return {
        "removed": [s.student_number for s in change.changed],
        "not_enrolled": [s.student_number for s in change.unchanged],
        "student_count": len(course.students),
    }


# --- students ----------------------------------------------------------------------------------


def _page_args() -> tuple[str, int, int]:
    query = request.args.get("q", "").strip()[:100]
    limit = query_int("limit", 100, 1, 1000)
    offset = query_int("offset", 0, 0, INT_MAX)  # 10^20 was a LIMIT MariaDB cannot parse: 500
    return query, limit, offset


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
    response={"type": "array", "items": STUDENT},
    tags=["school"],
    query=(
        {"name": "q", "schema": {"type": "string"}, "description": "Number prefix or part of the name."},
        {"name": "limit", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
        {"name": "offset", "schema": {"type": "integer", "minimum": 0, "maximum": INT_MAX, "default": 0}},
    ),
)
@answers_errors
def list_students() -> list[dict[str, Any]]:
    """Students by number: all for administrators, those on their rosters for instructors."""
    query, limit, offset = _page_args()
    statement = access.visible_students(current_user)
    if query:
        statement = statement.where(search(query))
    rows = list(db_session.scalars(statement.limit(limit).offset(offset)))
    faces = students.face_counts(db_session, [s.id for s in rows])
    return [student_json(s, faces.get(s.id, 0)) for s in rows]


def _student_detail(student: Student) -> dict[str, Any]:
    faces = students.face_counts(db_session, [student.id])
    visible = [
        c for c in student.courses if access.is_admin(current_user) or c.instructor_id == current_user.id
    ]
    return {**student_json(student, faces.get(student.id, 0)), "courses": [course_ref(c) for c in visible]}


@api_route(
    "/students",
    "POST",
    roles=INSTRUCTOR,
    request=STUDENT_CREATE,
    response=STUDENT_DETAIL,
    status=201,
    errors=[404, 409],
    tags=["school"],
)
@answers_errors
def create_student() -> tuple[dict[str, Any], int]:
    """Create a student (instructors: on one of their courses' rosters at once)."""
    student = students.create_student(db_session, current_user, json_body())
    db_session.commit()
    return _student_detail(student), 201


@api_route(
    "/students/<int:student_id>",
    "GET",
    roles=INSTRUCTOR,
    response=STUDENT_DETAIL,
    errors=[404],
    tags=["school"],
)
@answers_errors
def get_student(student_id: int) -> dict[str, Any]:
    """One student, with the courses of theirs the caller may see."""
    return _student_detail(access.student_for(db_session, current_user, student_id))


@api_route(
    "/students/<int:student_id>",
    "PATCH",
    roles=INSTRUCTOR,
    request=STUDENT_UPDATE,
    response=STUDENT_DETAIL,
    errors=[404, 409],
    tags=["school"],
)
@answers_errors
def update_student(student_id: int) -> dict[str, Any]:
    """Edit a student's number or name (and, administrators, their linked account)."""
    student = access.student_for(db_session, current_user, student_id)
    students.update_student(db_session, current_user, student, json_body())
    db_session.commit()
    return _student_detail(student)


@api_route(
    "/students/<int:student_id>",
    "DELETE",
    roles=INSTRUCTOR,
    response=STUDENT_ERASED,
    errors=[404],
    tags=["school"],
)
@answers_errors
def delete_student(student_id: int) -> dict[str, Any]:
    """Delete a student and every stored face of theirs (templates, photos, sightings); audited.

    Instructors may delete only students whose courses are all theirs (403 otherwise)."""
    student = access.student_for(db_session, current_user, student_id)
    deleted = students.erase_student(db_session, current_user, student)
    db_session.commit()
    return {"deleted": deleted}


# --- classrooms and devices --------------------------------------------------------------------


@api_route(
    "/classrooms", "GET", roles=INSTRUCTOR, response={"type": "array", "items": CLASSROOM}, tags=["school"]
)
def list_classrooms() -> list[dict[str, Any]]:
    """Classrooms by name, with the devices installed in each."""
    rows = db_session.scalars(select(Classroom).order_by(Classroom.name))
    return [classroom_json(room) for room in rows]


@api_route(
    "/classrooms",
    "POST",
    roles=ADMIN,
    request=CLASSROOM_REQUEST,
    response=CLASSROOM,
    status=201,
    errors=[409],
    tags=["school"],
)
@answers_errors
def create_classroom() -> tuple[dict[str, Any], int]:
    """Create a classroom."""
    room = rooms.create_classroom(db_session, current_user, json_body())
    db_session.commit()
    return classroom_json(room), 201


@api_route(
    "/classrooms/<int:classroom_id>",
    "PATCH",
    roles=ADMIN,
    request=CLASSROOM_REQUEST,
    response=CLASSROOM,
    errors=[404, 409],
    tags=["school"],
)
@answers_errors
def update_classroom(classroom_id: int) -> dict[str, Any]:
    """Rename a classroom."""
    room = db_session.get(Classroom, classroom_id)
    if room is None:
        raise NotFound(f"no classroom with id {classroom_id}")
    rooms.update_classroom(db_session, current_user, room, json_body())
    db_session.commit()
    return classroom_json(room)


@api_route("/devices", "GET", roles=ADMIN, response={"type": "array", "items": DEVICE}, tags=["school"])
def list_devices() -> list[dict[str, Any]]:
    """Registered devices by id."""
    return [device_json(d) for d in db_session.scalars(select(Device).order_by(Device.device_id))]


@api_route(
    "/devices",
    "POST",
    roles=ADMIN,
    request=DEVICE_CREATE,
    response=DEVICE,
    status=201,
    errors=[409],
    tags=["school"],
)
@answers_errors
def create_device() -> tuple[dict[str, Any], int]:
    """Register a device by the id it publishes under, optionally in a classroom."""
    device = rooms.create_device(db_session, current_user, json_body())
    db_session.commit()
    return device_json(device), 201


@api_route(
    "/devices/<int:device_pk>",
    "PATCH",
    roles=ADMIN,
    request=DEVICE_UPDATE,
    response=DEVICE,
    errors=[404],
    tags=["school"],
)
@answers_errors
def update_device(device_pk: int) -> dict[str, Any]:
    """Rename a device or move it to another classroom (`classroom_id` null: uninstalled).

    The path takes the device's numeric `id` (not its `device_id`)."""
    device = db_session.get(Device, device_pk)
    if device is None:
        raise NotFound(f"no device with id {device_pk}")
    rooms.update_device(db_session, current_user, device, json_body())
    db_session.commit()
    return device_json(device)


# --- sessions ----------------------------------------------------------------------------------


@api_route(
    "/courses/<int:course_id>/sessions",
    "GET",
    roles=INSTRUCTOR,
    response={"type": "array", "items": LECTURE_SESSION},
    errors=[404],
    tags=["school"],
    query=(
        {"name": "from", "schema": _OFFSET_DATETIME, "description": "Sessions ending after this instant."},
        {"name": "to", "schema": _OFFSET_DATETIME, "description": "Sessions starting before this instant."},
    ),
)
@answers_errors
def list_sessions(course_id: int) -> list[dict[str, Any]]:
    """A course's lecture sessions that overlap [from, to), by start time."""
    course = access.course_for(db_session, current_user, course_id)
    start = instant(request.args["from"], "from") if request.args.get("from") else None  # empty: absent
    end = instant(request.args["to"], "to") if request.args.get("to") else None
    if start is not None and end is not None and end <= start:
        raise Invalid("'to' must be after 'from'")
    return [session_json(s) for s in schedule.sessions_between(db_session, course, start, end)]


@api_route(
    "/courses/<int:course_id>/sessions",
    "POST",
    roles=INSTRUCTOR,
    request=SESSION_CREATE,
    response=SESSIONS_CREATED,
    status=201,
    errors=[404, 409],
    tags=["school"],
)
@answers_errors
def create_sessions(course_id: int) -> tuple[dict[str, Any], int]:
    """Schedule one lecture session or a weekly series in a classroom (all or nothing)."""
    course = access.course_for(db_session, current_user, course_id)
    created = schedule.create_sessions(db_session, current_user, course, json_body())
    db_session.commit()
    return {"sessions": [session_json(s) for s in created]}, 201


@api_route(
    "/sessions/<int:session_id>",
    "GET",
    roles=INSTRUCTOR,
    response=LECTURE_SESSION,
    errors=[404],
    tags=["school"],
)
@answers_errors
def get_lecture_session(session_id: int) -> dict[str, Any]:
    """One lecture session."""
    return session_json(access.session_for(db_session, current_user, session_id))


@api_route(
    "/sessions/<int:session_id>", "DELETE", roles=INSTRUCTOR, status=204, errors=[404, 409], tags=["school"]
)
@answers_errors
def delete_lecture_session(session_id: int) -> tuple[str, int]:
    """Delete a lecture session that holds no attendance yet (else 409)."""
    lecture = access.session_for(db_session, current_user, session_id)
    schedule.delete_session(db_session, current_user, lecture)
    db_session.commit()
    return "", 204
