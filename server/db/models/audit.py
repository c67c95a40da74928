"""Human corrections and the trail that records them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db.base import AUTOINCREMENT, Base
from server.db.enums import AttendanceStatus, enum_type
from server.db.models.accounts import User
from server.db.models.school import LectureSession, Student
from server.db.types import BigId, utcnow


class AttendanceOverride(Base):
    """An instructor's ruling on a student's attendance, which wins over what the engine computed.

    `period_index` None rules on the whole session, and so on every period without its own ruling
    (engine rule 9); 0, 1, ... on one period. The latest override for a (session, student, period) is
    the one in force; earlier ones stay as history.
    """

    __tablename__ = "attendance_overrides"
    __table_args__ = (Index("ix_attendance_overrides_session_id_student_id", "session_id", "student_id"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("lecture_sessions.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"))
    period_index: Mapped[int | None]
    status: Mapped[AttendanceStatus] = mapped_column(enum_type(AttendanceStatus, "attendance_status"))
    reason: Mapped[str] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(default=utcnow)

    session: Mapped[LectureSession] = relationship()
    student: Mapped[Student] = relationship()
    actor: Mapped[User | None] = relationship()


class AuditLog(Base):
    """Who changed what, when, from which state to which, and why. Append-only by convention.

    `entity_id` is a string so that any entity (integer keys, device ids, composite keys) fits.
    `actor_id` None is the system itself (a job, the CLI without a user).
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity_type_entity_id", "entity_type", "entity_id"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]
    reason: Mapped[str | None] = mapped_column(Text)

    actor: Mapped[User | None] = relationship()
