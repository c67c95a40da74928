"""Closed vocabularies stored in the database (as strings with a CHECK constraint, not native ENUMs,
so that adding a value is a plain migration on every backend)."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Enum


class Role(StrEnum):
    """What an account may do. `admin` passes every role check."""

    ADMIN = "admin"
    INSTRUCTOR = "instructor"
    ALBUM_USER = "album_user"
    STUDENT = "student"


class SessionStatus(StrEnum):
    SCHEDULED = "scheduled"
    CONFIRMED = "confirmed"


class AttendanceStatus(StrEnum):
    """Statuses an override may set; the same values as `server.attendance.engine.Status`."""

    PRESENT = "present"
    LATE = "late"
    LEFT_EARLY = "left_early"
    LATE_AND_LEFT_EARLY = "late_and_left_early"
    ABSENT = "absent"
    EXCUSED = "excused"


class ReviewDecision(StrEnum):
    PENDING = "pending"
    ASSIGNED = "assigned"
    NOT_A_STUDENT = "not_a_student"


class FaceKind(StrEnum):
    """An embedding from one enrolment photo, or the template that combines a student's photos."""

    PHOTO = "photo"
    TEMPLATE = "template"


def enum_type(enum_cls: type[StrEnum], name: str) -> Enum:
    """A VARCHAR column holding the enum's values, guarded by a named CHECK constraint."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        validate_strings=True,
        values_callable=lambda members: [member.value for member in members],
    )
