"""Jobs in /api/v1: a client polls the job it started (album indexing, deepfake scoring...), and may
cancel it when its kind allows.

Each account sees its own jobs; administrators may open any job by id (support), but the list
is always the caller's own."""

from __future__ import annotations

from flask import abort
from flask_babel import gettext
from flask_login import current_user
from sqlalchemy import select

from server.api.endpoints import api_route
from server.db import db_session
from server.db.enums import Role
from server.db.models.jobs import Job
from server.jobs import store
from server.jobs.handlers import is_cancellable
from server.jobs.schemas import Job as JobShape
from server.jobs.schemas import JobList, JobQuery

TAGS = ["jobs"]


@api_route("/jobs/<bigid:job_id>", roles=[], response=JobShape, errors=[404], tags=TAGS)
def get_job(job_id: int) -> JobShape:
    """One background job's status, progress and result.

    Poll it after starting work that runs in the background; `status` ends as `succeeded` (with
    `result`), `failed` (with `error`) or `cancelled`."""
    return JobShape.of(_visible_job(job_id))


def _visible_job(job_id: int) -> Job:
    """The job if the caller owns it or is an administrator; 404 otherwise (as for unknown ids)."""
    job = db_session.get(Job, job_id)
    if job is None or (job.owner_id != current_user.id and not current_user.has_role(Role.ADMIN)):
        abort(404, gettext("no job %(id)s", id=job_id))
    return job


@api_route("/jobs/<bigid:job_id>/cancel", "POST", roles=[], response=JobShape, errors=[404, 409], tags=TAGS)
def cancel_job(job_id: int) -> JobShape:
    """Cancel a queued or running job.

    A queued job never runs; a running one stops at its next progress report. 409 when the job has
    already ended or its kind cannot be cancelled (album indexing, for one, finishes by itself)."""
    job = _visible_job(job_id)
    if not is_cancellable(job.kind):
        abort(409, gettext("jobs of kind %(kind)s cannot be cancelled", kind=job.kind))
    if not store.cancel_job(db_session, job):
        db_session.rollback()
        db_session.refresh(job)
        abort(409, gettext("job %(id)s has already ended (%(value)s)", id=job_id, value=job.status.value))
    db_session.commit()
    return JobShape.of(job)


@api_route(
    "/jobs",
    roles=[],
    response=JobList,
    errors=[400],
    query=JobQuery,
    tags=TAGS,
)
def list_jobs(query: JobQuery) -> JobList:
    """The caller's own jobs, newest first, optionally of one status or kind."""
    statement = select(Job).where(Job.owner_id == current_user.id)
    if query.status is not None:
        statement = statement.where(Job.status == query.status)
    if query.kind:
        statement = statement.where(Job.kind == query.kind)
    rows = db_session.scalars(statement.order_by(Job.id.desc()).limit(query.limit))
    return JobList(jobs=[JobShape.of(job) for job in rows])
