"""Jobs in /api/v1: a client polls the job it started (album indexing, deepfake scoring...), and may
cancel it when its kind allows.

Each account sees its own jobs; administrators may open any job by id (support), but the list
is always the caller's own."""

from __future__ import annotations

from typing import Any

from flask import abort, request
from flask_login import current_user
from sqlalchemy import select

from server.api.endpoints import api_route, registry
from server.api.io import NULLABLE_DATETIME, iso, query_int
from server.db import db_session
from server.db.enums import Role
from server.db.models.jobs import Job, JobStatus
from server.jobs import store
from server.jobs.handlers import is_cancellable

TAGS = ["jobs"]
MAX_LIST = 200

JOB = registry.schema(
    "Job",
    {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "kind": {"type": "string"},
            "status": {"type": "string", "enum": [status.value for status in JobStatus]},
            "progress": {
                "type": "object",
                "properties": {
                    "done": {"type": "integer"},
                    "total": {"type": ["integer", "null"]},
                    "fraction": {"type": ["number", "null"]},
                },
            },
            "message": {"type": ["string", "null"]},
            "result": {"type": ["object", "null"]},
            "error": {"type": ["string", "null"]},
            "attempts": {"type": "integer"},
            "created_at": NULLABLE_DATETIME,
            "started_at": NULLABLE_DATETIME,
            "finished_at": NULLABLE_DATETIME,
        },
        "required": ["id", "kind", "status", "progress"],
    },
)


def job_json(job: Job) -> dict[str, Any]:
    """What a client needs to show a job (not its payload, which may name server-side paths)."""
    total = job.progress_total
    fraction = None
    if total:
        fraction = round(min(job.progress_done, total) / total, 4)
    elif job.status == JobStatus.SUCCEEDED:
        fraction = 1.0
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status.value,
        "progress": {"done": job.progress_done, "total": total, "fraction": fraction},
        "message": job.message,
        "result": job.result,
        "error": job.error,
        "attempts": job.attempts,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
    }


@api_route("/jobs/<bigid:job_id>", roles=[], response=JOB, errors=[404], tags=TAGS)
def get_job(job_id: int) -> Any:
    """One background job's status, progress and result.

    Poll it after starting work that runs in the background; `status` ends as `succeeded` (with
    `result`), `failed` (with `error`) or `cancelled`."""
    return job_json(_visible_job(job_id))


def _visible_job(job_id: int) -> Job:
    """The job if the caller owns it or is an administrator; 404 otherwise (as for unknown ids)."""
    job = db_session.get(Job, job_id)
    if job is None or (job.owner_id != current_user.id and not current_user.has_role(Role.ADMIN)):
        abort(404, f"no job {job_id}")
    return job


@api_route("/jobs/<bigid:job_id>/cancel", "POST", roles=[], response=JOB, errors=[404, 409], tags=TAGS)
def cancel_job(job_id: int) -> Any:
    """Cancel a queued or running job.

    A queued job never runs; a running one stops at its next progress report. 409 when the job has
    already ended or its kind cannot be cancelled (album indexing, for one, finishes by itself)."""
    job = _visible_job(job_id)
    if not is_cancellable(job.kind):
        abort(409, f"jobs of kind {job.kind} cannot be cancelled")
    if not store.cancel_job(db_session, job):
        db_session.rollback()
        db_session.refresh(job)
        abort(409, f"job {job_id} has already ended ({job.status.value})")
    db_session.commit()
    return job_json(job)


@api_route(
    "/jobs",
    roles=[],
    response={"type": "object", "properties": {"jobs": {"type": "array", "items": JOB}}},
    errors=[400],
    query=[
        {"name": "status", "schema": {"type": "string", "enum": [s.value for s in JobStatus]}},
        {"name": "kind", "schema": {"type": "string"}},
        {"name": "limit", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIST, "default": 50}},
    ],
    tags=TAGS,
)
def list_jobs() -> Any:
    """The caller's own jobs, newest first, optionally of one status or kind."""
    statement = select(Job).where(Job.owner_id == current_user.id)
    status = request.args.get("status")
    if status:
        if status not in {s.value for s in JobStatus}:
            abort(400, f"status must be one of {', '.join(s.value for s in JobStatus)}")
        statement = statement.where(Job.status == JobStatus(status))
    if request.args.get("kind"):
        statement = statement.where(Job.kind == request.args["kind"])
    limit = query_int("limit", 50, 1, MAX_LIST)
    rows = db_session.scalars(statement.order_by(Job.id.desc()).limit(limit))
    return {"jobs": [job_json(job) for job in rows]}
