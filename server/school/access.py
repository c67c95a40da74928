"""Who may see what. Administrators see everything; an instructor sees the courses they teach,
the students on those courses' rosters, and those courses' sessions. Anything else looks like
it does not exist (404), so ids of other instructors' courses reveal nothing. The same holds for
student numbers: an instructor can put on a roster only students they already see (or create
there); another instructor's student is an unknown number to them, and only an administrator
adds a student to a second instructor's course.

Role checks (instructor vs album user) happen before, in the route decorators; these functions
decide visibility among the rows a permitted role may reach.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask_babel import gettext
from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session

from server.db.enums import Role
from server.db.models import Course, LectureSession, Student, User, course_students
from server.school.errors import NotFound


def is_admin(user: User) -> bool:
    return user.role == Role.ADMIN


def visible_courses(user: User) -> Select[tuple[Course]]:
    """The courses `user` may see, ordered by code."""
    query = select(Course).order_by(Course.code)
    return query if is_admin(user) else query.where(Course.instructor_id == user.id)


def course_for(db: Session, user: User, course_id: int) -> Course:
    course = db.get(Course, course_id)
    if course is None or not (is_admin(user) or course.instructor_id == user.id):
        raise NotFound(gettext("no course with id %(id)s", id=course_id))
    return course


def teaches(user_id: int):
    """SQL condition: the student is on a roster of a course `user_id` teaches."""
    return exists(
        select(course_students.c.student_id)
        .join(Course, Course.id == course_students.c.course_id)
        .where(course_students.c.student_id == Student.id, Course.instructor_id == user_id)
    )


def visible_students(user: User) -> Select[tuple[Student]]:
    """The students `user` may see, ordered by student number."""
    query = select(Student).order_by(Student.student_number)
    return query if is_admin(user) else query.where(teaches(user.id))


def student_for(db: Session, user: User, student_id: int) -> Student:
    student = db.scalars(visible_students(user).where(Student.id == student_id)).one_or_none()
    if student is None:
        raise NotFound(gettext("no student with id %(id)s", id=student_id))
    return student


def session_for(db: Session, user: User, session_id: int) -> LectureSession:
    lecture = db.get(LectureSession, session_id)
    if lecture is None or not (is_admin(user) or lecture.course.instructor_id == user.id):
        raise NotFound(gettext("no lecture session with id %(id)s", id=session_id))
    return lecture


def visible_student_ids(db: Session, user: User, ids: Iterable[int]) -> set[int]:
    """The ids among `ids` of students `user` may see (all of them for an administrator)."""
    ids = set(ids)
    if is_admin(user) or not ids:
        return ids
    return set(db.scalars(select(Student.id).where(Student.id.in_(ids), teaches(user.id))))
