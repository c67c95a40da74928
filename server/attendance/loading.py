"""What the attendance pages and endpoints read beside the computed report: a session's unknown
faces, its audit trail, a student's own sessions. Reads only: the rows derived from sightings are
written when sightings arrive or a session is scheduled (`server.attendance.refresh`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from server.attendance.review import ENTITY
from server.attendance.schemas import StudentAttendance
from server.attendance.service import compute_session
from server.db.enums import ReviewDecision
from server.db.models import AuditLog, Course, LectureSession, UnknownFaceReview, course_students
from server.db.types import utcnow


def reviews_of(db: Session, lecture: LectureSession) -> list[UnknownFaceReview]:
    """The session's unknown faces: pending ones first, then decided ones, each in listing order."""
    pending_first = case((UnknownFaceReview.decision == ReviewDecision.PENDING, 0), else_=1)
    return list(
        db.scalars(
            select(UnknownFaceReview)
            .where(UnknownFaceReview.session_id == lecture.id)
            .order_by(pending_first, UnknownFaceReview.id)
        )
    )


def pending_count(db: Session, lecture: LectureSession) -> int:
    return (
        db.scalar(
            select(func.count())
            .select_from(UnknownFaceReview)
            .where(
                UnknownFaceReview.session_id == lecture.id,
                UnknownFaceReview.decision == ReviewDecision.PENDING,
            )
        )
        or 0
    )


def audit_trail(db: Session, lecture: LectureSession) -> list[AuditLog]:
    """The session's audit entries, newest first."""
    return list(
        db.scalars(
            select(AuditLog)
            .where(AuditLog.entity_type == ENTITY, AuditLog.entity_id == str(lecture.id))
            .order_by(AuditLog.at.desc(), AuditLog.id.desc())
        )
    )


def my_sessions(
    db: Session, student_id: int, config: Mapping[str, Any]
) -> list[tuple[LectureSession, StudentAttendance]]:
    """(session, the student's own attendance row) for every started session of their courses."""
    lectures = db.scalars(
        select(LectureSession)
        .join(Course, Course.id == LectureSession.course_id)
        .join(course_students, course_students.c.course_id == Course.id)
        .where(course_students.c.student_id == student_id, LectureSession.starts_at <= utcnow())
        .order_by(LectureSession.starts_at.desc(), LectureSession.id.desc())
    ).all()
    out = []
    for lecture in lectures:
        report = compute_session(db, lecture, config, [student_id])
        row = StudentAttendance.of(report, report.result.student(student_id))
        row.thumbnail_url = None  # face crops are for the instructor's review only
        out.append((lecture, row))
    return out
