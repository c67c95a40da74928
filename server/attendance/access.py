"""Who may see and change which attendance: a course's instructor and administrators, nobody else.

Another instructor's session, course, sighting or unknown face answers 404, exactly like an id
that does not exist, on the web and in the API alike: ids reveal nothing about other courses.
"""

from __future__ import annotations

from flask import abort
from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.enums import Role
from server.db.models import (
    Course,
    LearnedFace,
    LectureSession,
    Sighting,
    Student,
    UnknownCluster,
    UnknownFaceReview,
    User,
    course_students,
)


def manages(user: User, course: Course) -> bool:
    """True for the course's instructor and for administrators."""
    return user.role == Role.ADMIN or (course.instructor_id is not None and course.instructor_id == user.id)


def session_or_404(db: Session, user: User, session_id: int) -> LectureSession:
    lecture = db.get(LectureSession, session_id)
    if lecture is None or not manages(user, lecture.course):
        abort(404, gettext("There is no lecture session %(id)s among your courses.", id=session_id))
    return lecture


def course_or_404(db: Session, user: User, course_id: int) -> Course:
    course = db.get(Course, course_id)
    if course is None or not manages(user, course):
        abort(404, gettext("There is no course %(id)s among your courses.", id=course_id))
    return course


def review_or_404(db: Session, user: User, review_id: int) -> UnknownFaceReview:
    review = db.get(UnknownFaceReview, review_id)
    if review is None or not manages(user, review.session.course):
        abort(404, gettext("There is no unknown face %(id)s in your sessions.", id=review_id))
    return review


def cluster_or_404(db: Session, user: User, cluster_id: int) -> UnknownCluster:
    cluster = db.get(UnknownCluster, cluster_id)
    if cluster is None or not manages(user, cluster.course):
        abort(404, gettext("There is no unknown person %(id)s in your courses.", id=cluster_id))
    return cluster


def learned_or_404(db: Session, user: User, learned_id: int) -> LearnedFace:
    """A learned face of a student of one of the user's courses (its session may be gone since)."""
    learned = db.get(LearnedFace, learned_id)
    if learned is None or not any(
        manages(user, course) for course in courses_of_student(db, learned.student_id)
    ):
        abort(404, gettext("There is no learned face %(id)s among your students.", id=learned_id))
    return learned


def courses_of_student(db: Session, student_id: int) -> list[Course]:
    return list(
        db.scalars(
            select(Course)
            .join(course_students, course_students.c.course_id == Course.id)
            .where(course_students.c.student_id == student_id)
        )
    )


def sighting_or_404(db: Session, user: User, sighting_id: int) -> Sighting:
    """A sighting of one of the user's sessions (a sighting outside any session is nobody's to review)."""
    sighting = db.get(Sighting, sighting_id)
    if sighting is None or sighting.session is None or not manages(user, sighting.session.course):
        abort(404, gettext("There is no sighting %(id)s in your sessions.", id=sighting_id))
    return sighting


def student_of(db: Session, user: User) -> Student | None:
    """The student record linked to this account, if any (students read their own attendance)."""
    return db.scalars(select(Student).where(Student.user_id == user.id)).one_or_none()
