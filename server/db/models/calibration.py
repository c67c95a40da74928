"""A course's accepted recognition thresholds (per-course calibration, issue 15 X4).

One row per course at most: present means an administrator accepted the thresholds calibrated from
the course's enrolment photos (`server.school.calibration`); absent means the deployment's global
threshold applies. The row names the embedder it was calibrated for, because scores of another
embedder mean something else: after a switch of GALLERY_MODEL the row no longer applies (the page
says so) until the course is calibrated and accepted again. Accepting and reverting are audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db.base import Base
from server.db.models.accounts import User
from server.db.models.school import Course
from server.db.types import utcnow


class CourseThreshold(Base):
    """The match and unknown thresholds devices apply to one course's gallery, as accepted."""

    __tablename__ = "course_thresholds"
    __table_args__: ClassVar[dict[str, Any]] = {"sqlite_autoincrement": True}  # audited ids never reused

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), unique=True)
    model: Mapped[str] = mapped_column(String(64))  # the embedder id (`sface@...`) it holds for
    threshold: Mapped[float] = mapped_column(Float)  # match: a student at or above it
    unknown_threshold: Mapped[float] = mapped_column(Float)  # below it: not a student (undecided between)
    target_far: Mapped[float] = mapped_column(Float)
    genuine_pairs: Mapped[int]
    impostor_pairs: Mapped[int]
    # The deployment's threshold when accepted: a course threshold below it needed an explicit yes.
    global_threshold: Mapped[float] = mapped_column(Float)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    accepted_at: Mapped[datetime] = mapped_column(default=utcnow)

    course: Mapped[Course] = relationship()
    accepted_by: Mapped[User | None] = relationship()
