"""Background jobs: one row per job, the single source of truth for the in-process runner and RQ.

A queue (RQ on Redis) only ever carries a job's id; status, progress and result live here, so that
`GET /api/v1/jobs/<id>` reads one table whichever runner executes the job, and a lost queue
message or a dead worker never loses the job (the runner re-queues rows whose heartbeat stopped).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.base import AUTOINCREMENT, Base
from server.db.enums import enum_type
from server.db.types import BigId, utcnow


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"  # by its owner or an administrator (only kinds registered as cancellable)


class Job(Base):
    """A unit of background work of a registered `kind`, run by whichever worker claims it first."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_id", "status", "id"),  # the claim: oldest queued first
        Index("ix_jobs_owner_id_id", "owner_id", "id"),
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    # Who asked (None: the system, e.g. retention); deleting the account keeps the record.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[JobStatus] = mapped_column(enum_type(JobStatus, "job_status"), default=JobStatus.QUEUED)
    progress_done: Mapped[int] = mapped_column(default=0)
    progress_total: Mapped[int | None]
    message: Mapped[str | None] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]]
    result: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # Written by the worker while it runs the job; a stale one means the worker died.
    heartbeat_at: Mapped[datetime | None]
    worker_id: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=3)

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.kind} {self.status}>"
