"""Who may enrol whom: the school's visibility rules (`server.school.access`: administrators see
everything, an instructor their own courses and the students on those rosters; anything else is a
404, so another instructor's ids reveal nothing), plus the photos of those students."""

from __future__ import annotations

from flask_babel import gettext
from sqlalchemy.orm import Session

from server.db.enums import FaceKind
from server.db.models import FaceTemplate, Student, User
from server.enrolment.errors import NotFound
from server.school.access import course_for, is_admin, student_for, visible_courses

__all__ = ["course_for", "is_admin", "photo_for", "student_for", "visible_courses"]


def photo_for(session: Session, user: User, student_id: int, photo_id: int) -> tuple[Student, FaceTemplate]:
    """The student (visible to `user`) and one of their enrolment photos; NotFound otherwise."""
    student = student_for(session, user, student_id)
    photo = session.get(FaceTemplate, photo_id)
    if photo is None or photo.student_id != student.id or photo.kind != FaceKind.PHOTO:
        raise NotFound(gettext("student %(id)s has no photo with id %(id2)s", id=student_id, id2=photo_id))
    return student, photo
