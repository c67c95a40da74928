"""Students and rosters.

Student numbers are compared regardless of case and stored upper-case ('s-001' is 'S-001'), so a
number typed either way finds the same student on SQLite and on MariaDB alike.

Erasing a student deletes every face of theirs the server holds: enrolment templates, sightings
(with their thumbnails), tracks an instructor assigned to them, and, through the `student_erasing`
signal, what other parts keep (photos, galleries). The audit entry keeps the student number and
counts, not the name or any face.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext, ngettext
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from server.audit import record
from server.db.enums import FaceKind, Role
from server.db.models import (
    AttendanceOverride,
    Course,
    FaceTemplate,
    Sighting,
    Student,
    UnknownFaceReview,
    User,
)
from server.school.access import course_for, is_admin, visible_student_ids
from server.school.errors import Conflict, Forbidden, Invalid
from server.school.fields import (
    STUDENT_NUMBER,
    optional_id,
    string_list,
    student_number,
    text,
)
from server.school.signals import roster_changed, student_erasing

MAX_ROSTER_BATCH = 5000


def normalize_number(value: Any, name: str = "student_number") -> str:
    return student_number(value, name).upper()


def state(student: Student) -> dict[str, Any]:
    return {"student_number": student.student_number, "name": student.name, "user_id": student.user_id}


def ensure_number_free(db: Session, number: str, student_id: int | None = None) -> None:
    query = select(Student.id).where(Student.student_number == number)
    if student_id is not None:
        query = query.where(Student.id != student_id)
    if db.scalar(query) is not None:
        raise Conflict(gettext("a student with number %(number)s already exists", number=number))


def linked_account(db: Session, value: Any, student_id: int | None = None) -> User | None:
    """The account a student reads their own attendance with: a 'student' account, linked once."""
    user_id = optional_id(value, "user_id")
    if user_id is None:
        return None
    user = db.get(User, user_id)
    if user is None or user.role != Role.STUDENT:
        raise Invalid(gettext("'user_id' %(id)s is not a student account", id=user_id))
    other = db.scalar(select(Student).where(Student.user_id == user_id))
    if other is not None and other.id != student_id:
        raise Conflict(
            gettext(
                "account %(id)s is already linked to student %(number)s",
                id=user_id,
                number=other.student_number,
            )
        )
    return user


def create_student(db: Session, actor: User, body: Mapping[str, Any]) -> Student:
    """A new student. An instructor must name one of their courses (`course_id`): the student goes
    on its roster, which is what lets the instructor see them at all."""
    number = normalize_number(body.get("student_number"))
    name = text(body.get("name"), "name", 200)
    course_id = optional_id(body.get("course_id"), "course_id")
    if course_id is None and not is_admin(actor):
        raise Invalid("'course_id' is required: name the course whose roster the new student joins")
    course = course_for(db, actor, course_id) if course_id is not None else None
    if body.get("user_id") is not None and not is_admin(actor):
        raise Forbidden("only an administrator can link a student to a user account")
    user = linked_account(db, body.get("user_id"))
    ensure_number_free(db, number)
    student = Student(student_number=number, name=name, user=user)
    db.add(student)
    db.flush()
    record(db, actor, "student.create", "student", student.id, after=state(student))
    if course is not None:
        enrol(db, actor, course, [student])  # new, so no one else's: the creator may enrol them
    return student


def update_student(db: Session, actor: User, student: Student, body: Mapping[str, Any]) -> Student:
    before = state(student)
    if "student_number" in body:
        number = normalize_number(body["student_number"])
        if number != student.student_number:
            ensure_number_free(db, number, student.id)
            student.student_number = number
    if "name" in body:
        student.name = text(body["name"], "name", 200)
    if "user_id" in body and optional_id(body["user_id"], "user_id") != student.user_id:
        if not is_admin(actor):
            raise Forbidden("only an administrator can link a student to a user account")
        user = linked_account(db, body["user_id"], student.id)
        student.user = user
        student.user_id = user.id if user is not None else None
    after = state(student)
    if after != before:
        record(db, actor, "student.update", "student", student.id, before=before, after=after)
    return student


def erase_student(db: Session, actor: User, student: Student) -> dict[str, int]:
    """Delete the student and every stored face of theirs; returns what was deleted, by kind.

    An instructor may erase only a student whose courses are all theirs (erasing changes the
    rosters of every course the student is on)."""
    courses = list(student.courses)
    if not is_admin(actor) and any(course.instructor_id != actor.id for course in courses):
        raise Forbidden(
            "this student is also on another instructor's course: ask an administrator to delete them"
        )
    student_erasing.send(None, db=db, student=student, actor=actor)
    for course in courses:  # each course's own trail shows the student leaving its roster
        _roster_audit(db, actor, course, "roster.remove", [student], len(course.students))

    deleted = {"face_templates": 0, "sightings": 0, "overrides": 0}
    # Unknown-face tracks an instructor assigned to this student show the student's face too.
    for review in db.scalars(select(UnknownFaceReview).where(UnknownFaceReview.student_id == student.id)):
        deleted["sightings"] += _count(
            db,
            delete(Sighting).where(
                Sighting.session_id == review.session_id,
                Sighting.device_id == review.device_id,
                Sighting.track_id == review.track_id,
            ),
        )
    db.execute(delete(UnknownFaceReview).where(UnknownFaceReview.student_id == student.id))
    deleted["sightings"] += _count(db, delete(Sighting).where(Sighting.student_id == student.id))
    deleted["face_templates"] = _count(db, delete(FaceTemplate).where(FaceTemplate.student_id == student.id))
    deleted["overrides"] = _count(
        db, delete(AttendanceOverride).where(AttendanceOverride.student_id == student.id)
    )
    before = {"student_number": student.student_number, "courses": [course.id for course in courses]}
    record(db, actor, "student.delete", "student", student.id, before=before, after={"deleted": deleted})
    db.delete(student)
    db.flush()
    return deleted


def _count(db: Session, statement: Any) -> int:
    return int(db.execute(statement.execution_options(synchronize_session=False)).rowcount or 0)


@dataclass
class RosterChange:
    changed: list[Student] = field(default_factory=list)  # added, or removed
    unchanged: list[Student] = field(default_factory=list)  # already enrolled, or not enrolled


def roster_numbers(body: Mapping[str, Any]) -> list[str]:
    numbers = string_list(body.get("student_numbers"), "student_numbers", MAX_ROSTER_BATCH)
    return list(dict.fromkeys(number.upper() for number in numbers))


def find_students(db: Session, numbers: Sequence[str], actor: User | None = None) -> list[Student]:
    """The students with `numbers`, in that order; any unknown number fails the whole request.

    With an instructor as `actor`, a student they may not see counts as unknown, with the same
    answer as a number nobody has: the refusal reveals nothing about other instructors' students."""
    wellformed = [number for number in numbers if STUDENT_NUMBER.fullmatch(number)]
    found: dict[str, Student] = {}
    for start in range(0, len(wellformed), 500):  # keep the IN list a reasonable size
        chunk = wellformed[start : start + 500]
        found.update(
            (s.student_number, s)
            for s in db.scalars(select(Student).where(Student.student_number.in_(chunk)))
        )
    if actor is not None:
        allowed = visible_student_ids(db, actor, [student.id for student in found.values()])
        found = {number: student for number, student in found.items() if student.id in allowed}
    unknown = [number for number in numbers if number not in found]
    if unknown:
        shown = ", ".join(unknown[:20]) + (f" and {len(unknown) - 20} more" if len(unknown) > 20 else "")
        raise Invalid(
            ngettext(
                "%(num)d unknown student number: %(shown)s; nothing was changed",
                "%(num)d unknown student numbers: %(shown)s; nothing was changed",
                len(unknown),
                shown=shown,
            ),
            unknown_student_numbers=unknown,
        )
    return [found[number] for number in numbers]


def add_to_roster(db: Session, actor: User, course: Course, numbers: Sequence[str]) -> RosterChange:
    """Enrol the students with `numbers` in `course`, all or none (unknown numbers change nothing).
    An instructor may add only students they already see (`find_students`)."""
    return enrol(db, actor, course, find_students(db, [number.upper() for number in numbers], actor))


def enrol(
    db: Session, actor: User | None, course: Course, students: Sequence[Student], reason: str | None = None
) -> RosterChange:
    """Put `students` (already checked to be the actor's to add) on `course`'s roster. `actor` None:
    the system (the demo's seed), `reason` then says why."""
    enrolled = {student.id for student in course.students}
    change = RosterChange()
    for student in students:
        (change.unchanged if student.id in enrolled else change.changed).append(student)
    if change.changed:
        size = len(course.students)
        course.students.extend(change.changed)
        _roster_audit(db, actor, course, "roster.add", change.changed, size, reason)
    return change


def remove_from_roster(db: Session, actor: User, course: Course, numbers: Sequence[str]) -> RosterChange:
    """Take the students with `numbers` off `course`'s roster (their faces and history stay)."""
    students = find_students(db, [number.upper() for number in numbers], actor)
    enrolled = {student.id for student in course.students}
    change = RosterChange()
    for student in students:
        (change.changed if student.id in enrolled else change.unchanged).append(student)
    if change.changed:
        size = len(course.students)
        gone = {student.id for student in change.changed}
        course.students[:] = [student for student in course.students if student.id not in gone]
        _roster_audit(db, actor, course, "roster.remove", change.changed, size)
    return change


def _roster_audit(
    db: Session,
    actor: User | None,
    course: Course,
    action: str,
    students: list[Student],
    size: int,
    reason: str | None = None,
) -> None:
    """One audit entry per roster change (`size`: the roster's size before it), and the signal."""
    numbers = [student.student_number for student in students]
    before, after = {"roster_size": size}, {"student_numbers": numbers}
    record(db, actor, action, "course", course.id, before=before, after=after, reason=reason)
    ids = [student.id for student in students]
    added, removed = (ids, []) if action == "roster.add" else ([], ids)
    roster_changed.send(None, db=db, course_id=course.id, added=added, removed=removed, actor=actor)


def face_counts(db: Session, student_ids: Sequence[int]) -> dict[int, int]:
    """How many enrolment embeddings (one per accepted photo) each student has."""
    if not student_ids:
        return {}
    rows = db.execute(
        select(FaceTemplate.student_id, func.count())
        .where(FaceTemplate.student_id.in_(student_ids), FaceTemplate.kind == FaceKind.PHOTO)
        .group_by(FaceTemplate.student_id)
    )
    return {student_id: count for student_id, count in rows}
