"""What recognition produces and consumes: sightings, enrolled face embeddings, course galleries,
and the review of faces no one recognised.

Privacy: every stored face (thumbnail, embedding) belongs to a student row and goes with it
(ON DELETE CASCADE), so deleting a student deletes their biometric data everywhere in the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db.base import AUTOINCREMENT, Base
from server.db.enums import FaceKind, ReviewDecision, enum_type
from server.db.models.accounts import User
from server.db.models.school import Course, Device, LectureSession, Student
from server.db.types import BigId, Blob, utcnow


class Sighting(Base):
    """One recognition event from a device. `event_id` is the device's unique id for it, which makes
    ingest idempotent (a redelivered MQTT message inserts nothing new).

    `device_id` is the devices table's primary key, not the string the device publishes under
    (that one is `Device.device_id`). Attendance uses `captured_at` (device clock, UTC);
    `received_at` is the server's clock and exposes skew and backlog.
    """

    __tablename__ = "sightings"
    __table_args__ = (
        Index("ix_sightings_session_id_captured_at", "session_id", "captured_at"),
        Index("ix_sightings_device_id_captured_at", "device_id", "captured_at"),
        Index("ix_sightings_student_id_captured_at", "student_id", "captured_at"),
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    # CASCADE: a deleted session's evidence goes with it. With SET NULL its sightings became unassigned
    # and `attach_sightings` handed them to the next session of that room and time (issue 15).
    session_id: Mapped[int | None] = mapped_column(ForeignKey("lecture_sessions.id", ondelete="CASCADE"))
    # None: an unknown face (no enrolled student matched).
    student_id: Mapped[int | None] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"))
    track_id: Mapped[str] = mapped_column(String(64))
    captured_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    score: Mapped[float | None] = mapped_column(Float)
    quality: Mapped[float | None] = mapped_column(Float)
    thumbnail: Mapped[bytes | None] = mapped_column(Blob)  # JPEG: unknown tracks' best crop by default
    # The embedding of an unknown track's best view (little-endian float32) and the model that made
    # it: what clusters unknown faces and ranks the roster for the instructor. None for students.
    embedding: Mapped[bytes | None] = mapped_column(Blob, deferred=True)
    embedding_model: Mapped[str | None] = mapped_column(String(64))

    device: Mapped[Device] = relationship()
    session: Mapped[LectureSession | None] = relationship()
    student: Mapped[Student | None] = relationship()


class FaceTemplate(Base):
    """An embedding of a student's face: one per accepted enrolment photo (`kind=photo`) and the
    combined template the galleries carry (`kind=template`).

    `embedding` is little-endian float32 of length `dim`, produced by the model named in `model`
    (embeddings of different models are never compared). `purpose` says why the face is kept,
    for retention and for the data-subject's right to know.
    """

    __tablename__ = "face_templates"
    __table_args__ = (Index("ix_face_templates_student_id_kind", "student_id", "kind"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"))
    kind: Mapped[FaceKind] = mapped_column(enum_type(FaceKind, "face_kind"), default=FaceKind.PHOTO)
    purpose: Mapped[str] = mapped_column(String(32), default="attendance")
    embedding: Mapped[bytes] = mapped_column(Blob)
    dim: Mapped[int]
    model: Mapped[str] = mapped_column(String(64))
    quality: Mapped[dict[str, Any] | None]
    # SHA-256 of the uploaded photo: the same photo enrolled twice is recognised as such.
    source_sha256: Mapped[str | None] = mapped_column(String(64))
    # The uploaded file's name, and a small JPEG of the aligned face (not the photo): see server.enrolment.
    filename: Mapped[str | None] = mapped_column(String(255))
    thumbnail: Mapped[bytes | None] = mapped_column(Blob, deferred=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    student: Mapped[Student] = relationship()


class CourseGallery(Base):
    """A published version of a course's gallery (the enrolled templates devices match against).

    The version goes up whenever enrolment changes; `sha256` covers the gallery's content so that a
    device can tell whether what it holds is current.
    """

    __tablename__ = "course_galleries"
    __table_args__ = (UniqueConstraint("course_id", "version"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    version: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    course: Mapped[Course] = relationship()


class UnknownFaceReview(Base):
    """An instructor's decision about an unrecognised track of a session's sightings."""

    __tablename__ = "unknown_face_reviews"
    __table_args__ = (UniqueConstraint("session_id", "device_id", "track_id"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("lecture_sessions.id", ondelete="CASCADE"))
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    track_id: Mapped[str] = mapped_column(String(64))
    decision: Mapped[ReviewDecision] = mapped_column(
        enum_type(ReviewDecision, "review_decision"), default=ReviewDecision.PENDING
    )
    student_id: Mapped[int | None] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]

    session: Mapped[LectureSession] = relationship()
    device: Mapped[Device] = relationship()
    student: Mapped[Student | None] = relationship()
    actor: Mapped[User | None] = relationship()


class UnknownCluster(Base):
    """One stranger as the server believes: unknown tracks of a course's sessions whose faces look alike.

    Tracks join clusters incrementally (`server.attendance.clusters`), so the instructor decides once per
    person: "assign" and "not a student" apply to every member, in every session of the course.
    `size` counts the members and is the cluster's version: a decision sent for another size is refused
    (the cluster changed since the page was rendered). Embeddings of different models never share one.
    """

    __tablename__ = "unknown_clusters"
    __table_args__ = (Index("ix_unknown_clusters_course_id_model", "course_id", "model"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(default=0)
    decision: Mapped[ReviewDecision] = mapped_column(
        enum_type(ReviewDecision, "review_decision"), default=ReviewDecision.PENDING
    )
    student_id: Mapped[int | None] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]

    course: Mapped[Course] = relationship()
    student: Mapped[Student | None] = relationship()
    actor: Mapped[User | None] = relationship()


class UnknownClusterMember(Base):
    """An unknown track's place in a cluster, with the sighting whose embedding (its best view) put it there.

    One row per review (a track is in at most one cluster); deleting the review, the sighting or the
    cluster removes the membership, never the other way round."""

    __tablename__ = "unknown_cluster_members"
    __table_args__ = (Index("ix_unknown_cluster_members_cluster_id", "cluster_id"),)

    review_id: Mapped[int] = mapped_column(
        ForeignKey("unknown_face_reviews.id", ondelete="CASCADE"), primary_key=True
    )
    cluster_id: Mapped[int] = mapped_column(ForeignKey("unknown_clusters.id", ondelete="CASCADE"))
    sighting_id: Mapped[int] = mapped_column(BigId, ForeignKey("sightings.id", ondelete="CASCADE"))
    similarity: Mapped[float | None] = mapped_column(Float)  # to the nearest member when it joined
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)

    review: Mapped[UnknownFaceReview] = relationship()
    cluster: Mapped[UnknownCluster] = relationship()
    sighting: Mapped[Sighting] = relationship()


class LearnedFace(Base):
    """A face added to a student's enrolment from the attendance review (Frigate's "train" tab).

    The face itself is an ordinary enrolment photo (`FaceTemplate`, through the same quality gate);
    this row remembers where it came from, so the instructor can see and remove what review taught.
    Removing the template removes this row; deleting the session keeps the learned face."""

    __tablename__ = "learned_faces"
    __table_args__ = (AUTOINCREMENT,)

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(
        ForeignKey("face_templates.id", ondelete="CASCADE"), unique=True
    )
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"))
    session_id: Mapped[int | None] = mapped_column(ForeignKey("lecture_sessions.id", ondelete="SET NULL"))
    sighting_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("sightings.id", ondelete="SET NULL"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    template: Mapped[FaceTemplate] = relationship()
    student: Mapped[Student] = relationship()
    session: Mapped[LectureSession | None] = relationship()
