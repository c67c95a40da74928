"""Enrolment photos that failed the quality gate: what was refused and why, never the photo itself."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db.base import AUTOINCREMENT, Base
from server.db.models.accounts import User
from server.db.models.school import Student
from server.db.types import utcnow


class EnrolmentRejection(Base):
    """A photo refused for a student (no face, several faces, too small, blurred, turned away...).

    Kept so that the student's photo page can say why an upload did not count, including uploads made
    by a script or a bulk import. Only the file name, its SHA-256, the reason and the quality figures
    are stored (no pixels); the few most recent per student are kept (`server.enrolment.photos`).
    """

    __tablename__ = "enrolment_rejections"
    __table_args__ = (Index("ix_enrolment_rejections_student_id_created_at", "student_id", "created_at"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    source_sha256: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    quality: Mapped[dict[str, Any] | None]
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    student: Mapped[Student] = relationship()
    actor: Mapped[User | None] = relationship()
