"""Courses: administrators create them and assign the instructor; an instructor edits the title of
their own; deleting one is refused once it holds attendance evidence (sightings, overrides)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import gettext
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.audit import record
from server.db.enums import Role
from server.db.models import AttendanceOverride, Course, LectureSession, Sighting, User, course_students
from server.school.access import is_admin
from server.school.errors import Conflict, Forbidden, Invalid
from server.school.fields import optional_id, text
from server.school.schedule import state as session_state
from server.school.unique import ensure_unique


def state(course: Course) -> dict[str, Any]:
    """What the audit log keeps of a course."""
    return {"code": course.code, "title": course.title, "instructor_id": course.instructor_id}


def instructor(db: Session, value: Any) -> User | None:
    """The account named by `instructor_id`: an active instructor (or administrator), or None."""
    user_id = optional_id(value, "instructor_id")
    if user_id is None:
        return None
    user = db.get(User, user_id)
    if user is None or not user.active or user.role not in (Role.INSTRUCTOR, Role.ADMIN):
        raise Invalid(gettext("'instructor_id' %(id)s is not an active instructor account", id=user_id))
    return user


def ensure_code_free(db: Session, code: str, course_id: int | None = None) -> None:
    ensure_unique(db, Course.code, code, f"a course with code {code!r} already exists", course_id)


def create_course(db: Session, actor: User, body: Mapping[str, Any]) -> Course:
    code = text(body.get("code"), "code", 32)
    title = text(body.get("title"), "title", 200)
    teacher = instructor(db, body.get("instructor_id"))
    ensure_code_free(db, code)
    course = Course(code=code, title=title, instructor=teacher)
    db.add(course)
    db.flush()
    record(db, actor, "course.create", "course", course.id, after=state(course))
    return course


def update_course(db: Session, actor: User, course: Course, body: Mapping[str, Any]) -> Course:
    """Change what `body` names. Instructors may change the title only; the code and the instructor
    are the administrators' (the same values sent back unchanged are fine)."""
    before = state(course)
    if "code" in body:
        code = text(body["code"], "code", 32)
        if code != course.code:
            if not is_admin(actor):
                raise Forbidden("only an administrator can change a course's code")
            ensure_code_free(db, code, course.id)
            course.code = code
    if "title" in body:
        course.title = text(body["title"], "title", 200)
    wanted = course.instructor_id
    if "instructor_id" in body:
        wanted = optional_id(body["instructor_id"], "instructor_id")
    if wanted != course.instructor_id:
        if not is_admin(actor):
            raise Forbidden("only an administrator can assign a course to an instructor")
        teacher = instructor(db, body["instructor_id"])
        course.instructor = teacher
        course.instructor_id = teacher.id if teacher is not None else None
    after = state(course)
    if after != before:
        record(db, actor, "course.update", "course", course.id, before=before, after=after)
    return course


def delete_course(db: Session, actor: User, course: Course) -> None:
    """Delete a course with its roster links and schedule, unless attendance was recorded in it."""
    sessions = select(LectureSession.id).where(LectureSession.course_id == course.id)
    sightings = db.scalar(select(func.count()).where(Sighting.session_id.in_(sessions)))
    overrides = db.scalar(select(func.count()).where(AttendanceOverride.session_id.in_(sessions)))
    if sightings or overrides:
        raise Conflict(
            gettext(
                "course %(code)s has recorded attendance (%(sightings)s sightings, %(overrides)s"
                " corrections): it is kept as the record and cannot be deleted",
                code=course.code,
                sightings=sightings,
                overrides=overrides,
            )
        )
    before = {
        **state(course),
        "students": len(course.students),
        "sessions": db.scalar(select(func.count()).select_from(sessions.subquery())),
    }
    record(db, actor, "course.delete", "course", course.id, before=before)
    for lecture in db.scalars(select(LectureSession).where(LectureSession.course_id == course.id)):
        before_session, why = session_state(lecture), f"course {course.code} deleted"
        record(db, actor, "session.delete", "lecture_session", lecture.id, before=before_session, reason=why)
    db.delete(course)


def roster_sizes(db: Session, course_ids: list[int]) -> dict[int, int]:
    """How many students each course's roster holds."""
    if not course_ids:
        return {}
    rows = db.execute(
        select(course_students.c.course_id, func.count())
        .where(course_students.c.course_id.in_(course_ids))
        .group_by(course_students.c.course_id)
    )
    return {course_id: count for course_id, count in rows}
