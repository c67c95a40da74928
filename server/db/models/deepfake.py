"""Deepfake checks: one row per uploaded file, and the few face crops that drove its score.

The uploaded media itself is not kept: it waits in storage only until its job has run (then it is
deleted, whatever the outcome). What stays is what the result page shows: the probability, the
per-frame timeline, and up to four small JPEG face crops, all owned by the user who uploaded and
deleted with the check or the account (ON DELETE CASCADE).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db.base import AUTOINCREMENT, Base
from server.db.enums import enum_type
from server.db.types import BigId, Blob, utcnow


class CheckStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"  # by its owner, before or while it was scored


class DeepfakeCheck(Base):
    """One file a user asked about, its job and, once scored, its result."""

    __tablename__ = "deepfake_checks"
    __table_args__ = (Index("ix_deepfake_checks_owner_id_id", "owner_id", "id"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    job_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("jobs.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(255))
    media_kind: Mapped[str] = mapped_column(String(8))  # image | video (from the file's magic bytes)
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str | None] = mapped_column(String(255))  # None once the upload is deleted
    status: Mapped[CheckStatus] = mapped_column(
        enum_type(CheckStatus, "deepfake_check_status"), default=CheckStatus.QUEUED
    )
    error: Mapped[str | None] = mapped_column(Text)
    verdict: Mapped[str | None] = mapped_column(String(16))
    probability: Mapped[float | None] = mapped_column(Float)
    result: Mapped[dict[str, Any] | None]  # CheckResult.to_dict(): timeline, media, model, counts
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]

    faces: Mapped[list[DeepfakeFace]] = relationship(
        back_populates="check",
        order_by="DeepfakeFace.ordinal",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class DeepfakeFace(Base):
    """A face crop (as the classifier saw it) among the highest-scoring faces of a check."""

    __tablename__ = "deepfake_faces"
    __table_args__ = AUTOINCREMENT

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    check_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("deepfake_checks.id", ondelete="CASCADE"), index=True
    )
    ordinal: Mapped[int]  # 1 = the highest-scoring face
    frame: Mapped[int]
    time_s: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    box: Mapped[dict[str, Any]]  # {"x1":..,"y1":..,"x2":..,"y2":..} in frame pixels
    jpeg: Mapped[bytes] = mapped_column(Blob)

    check: Mapped[DeepfakeCheck] = relationship(back_populates="faces")
