"""The attendance domain's structure: courses, students and rosters, rooms, devices, lectures."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db.base import AUTOINCREMENT, Base
from server.db.enums import SessionStatus, enum_type
from server.db.models.accounts import User
from server.db.types import utcnow

course_students = Table(
    "course_students",
    Base.metadata,
    Column("course_id", ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True),
    Column("student_id", ForeignKey("students.id", ondelete="CASCADE"), primary_key=True, index=True),
)
"""The roster: which students are enrolled in which course (many-to-many)."""


class Course(Base):
    __tablename__ = "courses"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    # SET NULL: removing an instructor's account must not erase the course's attendance history.
    instructor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    instructor: Mapped[User | None] = relationship()
    students: Mapped[list[Student]] = relationship(
        secondary=course_students, back_populates="courses", order_by="Student.student_number"
    )
    sessions: Mapped[list[LectureSession]] = relationship(
        back_populates="course", cascade="all, delete-orphan", passive_deletes=True
    )


class Student(Base):
    __tablename__ = "students"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(primary_key=True)
    student_number: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    # The student's own account, when they have one, lets them read their own attendance.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User | None] = relationship()
    courses: Mapped[list[Course]] = relationship(secondary=course_students, back_populates="students")


class Classroom(Base):
    __tablename__ = "classrooms"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)

    devices: Mapped[list[Device]] = relationship(back_populates="classroom")


class Device(Base):
    """An edge device (camera + Jetson), known by the id it publishes under on MQTT."""

    __tablename__ = "devices"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    classroom_id: Mapped[int | None] = mapped_column(
        ForeignKey("classrooms.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The device's HTTP credential (model bundle downloads): only the SHA-256 of a `vsd_` token is kept
    # (server.devices.tokens); issuing a new one replaces it, so the old one stops working at once.
    token_sha256: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str | None] = mapped_column(String(16))
    token_issued_at: Mapped[datetime | None]

    classroom: Mapped[Classroom | None] = relationship(back_populates="devices")


class LectureSession(Base):
    """One lecture of a course in a room, split into periods of `period_minutes` from `starts_at`."""

    __tablename__ = "lecture_sessions"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("period_minutes > 0", name="positive_period"),
        Index("ix_lecture_sessions_course_id_starts_at", "course_id", "starts_at"),
        Index("ix_lecture_sessions_classroom_id_starts_at", "classroom_id", "starts_at"),
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    classroom_id: Mapped[int | None] = mapped_column(ForeignKey("classrooms.id", ondelete="SET NULL"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    period_minutes: Mapped[int] = mapped_column(default=60, server_default="60")
    status: Mapped[SessionStatus] = mapped_column(
        enum_type(SessionStatus, "session_status"), default=SessionStatus.SCHEDULED
    )
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    confirmed_at: Mapped[datetime | None]

    course: Mapped[Course] = relationship(back_populates="sessions")
    classroom: Mapped[Classroom | None] = relationship()
    confirmed_by: Mapped[User | None] = relationship()
