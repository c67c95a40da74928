"""The JSON shapes of the jobs API: one pydantic model per shape (`server.api.shapes`)."""

from __future__ import annotations

from typing import Annotated, Any

from flask_babel import gettext
from pydantic import BeforeValidator

from server.api.shapes import Instant, QueryInt, QueryModel, ResponseModel
from server.db.models.jobs import Job as JobRow
from server.db.models.jobs import JobStatus


class JobProgress(ResponseModel):
    done: int
    total: int | None
    fraction: float | None


class Job(ResponseModel):
    """What a client needs to show a job (not its payload, which may name server-side paths)."""

    id: int
    kind: str
    status: JobStatus
    progress: JobProgress
    message: str | None
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    created_at: Instant | None
    started_at: Instant | None
    finished_at: Instant | None

    @classmethod
    def of(cls, job: JobRow) -> Job:
        total = job.progress_total
        fraction = None
        if total:
            fraction = round(min(job.progress_done, total) / total, 4)
        elif job.status == JobStatus.SUCCEEDED:
            fraction = 1.0
        return cls(
            id=job.id,
            kind=job.kind,
            status=job.status,
            progress=JobProgress(done=job.progress_done, total=total, fraction=fraction),
            message=job.message,
            result=job.result,
            error=job.error,
            attempts=job.attempts,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
        )


class JobList(ResponseModel):
    jobs: list[Job]


MAX_LIST = 200


def _status(value: Any) -> JobStatus:
    if value not in {status.value for status in JobStatus}:
        raise ValueError(
            gettext("status must be one of %(join)s", join=", ".join(s.value for s in JobStatus))
        )
    return JobStatus(value)


class JobQuery(QueryModel):
    status: Annotated[JobStatus, BeforeValidator(_status)] = None
    kind: str = None
    limit: QueryInt("limit", 1, MAX_LIST) = 50
