"""The `jobs` table as a queue: submit, claim (exclusively), heartbeat, finish, cancel, recover.

Every state change is one conditional UPDATE (`... WHERE status = 'running' AND worker_id = me`),
so two workers can never both run or both finish a job, on SQLite as on MariaDB. Claiming picks
the oldest queued row with `SELECT ... FOR UPDATE SKIP LOCKED` on MariaDB (concurrent claimers
skip each other's row instead of queueing behind it) and with one `UPDATE ... WHERE id = (SELECT
...) RETURNING id` statement on SQLite (which has one writer at a time anyway).
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, event, select, update
from sqlalchemy.orm import Session

from server.db.models.jobs import Job, JobStatus
from server.db.types import MYSQL_DIALECTS, utcnow
from server.jobs.handlers import ON_CANCEL, get_handler

PENDING_KEY = "visage.jobs.submitted"
MAX_ERROR = 4000
MAX_MESSAGE = 255

# Per engine, what to do with job ids once their submitting transaction commits (wake the
# in-process runner, or enqueue them on RQ). Set by `server.jobs.init_app`.
_dispatchers: weakref.WeakKeyDictionary[Engine, Callable[[list[int]], None]] = weakref.WeakKeyDictionary()


def set_dispatcher(engine: Engine, dispatch: Callable[[list[int]], None]) -> None:
    _dispatchers[engine] = dispatch


def dispatch(engine: Engine, job_ids: list[int]) -> None:
    handler = _dispatchers.get(engine)
    if handler is not None and job_ids:
        handler(job_ids)


def submit_job(
    session: Session,
    kind: str,
    payload: dict[str, Any] | None = None,
    owner_id: int | None = None,
    max_attempts: int = 3,
) -> Job:
    """Add a queued job (flushed, so `job.id` is set); it is handed to a worker when `session` commits.

    Raises `UnknownJobKind` for a kind without a handler and `ValueError` for a payload that is
    not a JSON object, so that a bad job is refused at submission, not discovered by a worker."""
    get_handler(kind)
    payload = {} if payload is None else payload
    if not isinstance(payload, dict):
        raise ValueError("a job payload must be a JSON object (a dict)")
    try:
        json.dumps(payload)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the job payload is not JSON-serialisable: {exc}") from exc
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    job = Job(
        kind=kind, owner_id=owner_id, payload=payload, status=JobStatus.QUEUED, max_attempts=max_attempts
    )
    session.add(job)
    session.flush()
    session.info.setdefault(PENDING_KEY, []).append(job.id)
    return job


@event.listens_for(Session, "after_commit")
def _dispatch_committed(session: Session) -> None:
    job_ids = session.info.pop(PENDING_KEY, None)
    if job_ids:
        bind = session.get_bind()
        engine = bind if isinstance(bind, Engine) else bind.engine
        dispatch(engine, list(job_ids))


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(PENDING_KEY, None)


def _running_values(worker_id: str, now: datetime) -> dict[str, Any]:
    return {
        "status": JobStatus.RUNNING,
        "worker_id": worker_id,
        "started_at": now,
        "heartbeat_at": now,
        "attempts": Job.attempts + 1,
        "error": None,
    }


def claim_next(session: Session, worker_id: str, kinds: Sequence[str]) -> int | None:
    """Mark the oldest queued job of one of `kinds` as running for `worker_id`; its id, or None."""
    if not kinds:
        return None
    now = utcnow()
    oldest = select(Job.id).where(Job.status == JobStatus.QUEUED, Job.kind.in_(list(kinds)))
    oldest = oldest.order_by(Job.id).limit(1)
    if session.get_bind().dialect.name in MYSQL_DIALECTS:
        job_id = session.scalar(oldest.with_for_update(skip_locked=True))
        claimed = job_id is not None and _mark_running(session, job_id, worker_id, now)
    else:
        statement = (
            update(Job)
            .where(Job.id == oldest.scalar_subquery(), Job.status == JobStatus.QUEUED)
            .values(_running_values(worker_id, now))
            .returning(Job.id)
        )
        job_id = session.scalar(statement)
        claimed = job_id is not None
    session.commit()
    return job_id if claimed else None


def claim_job(session: Session, job_id: int, worker_id: str) -> bool:
    """Mark one given queued job as running for `worker_id` (RQ delivers ids); False if it is not queued."""
    claimed = _mark_running(session, job_id, worker_id, utcnow())
    session.commit()
    return claimed


def _mark_running(session: Session, job_id: int, worker_id: str, now: datetime) -> bool:
    statement = (
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.QUEUED)
        .values(_running_values(worker_id, now))
    )
    return session.execute(statement).rowcount == 1


def _mine(job_id: int, worker_id: str) -> tuple[Any, ...]:
    return (Job.id == job_id, Job.worker_id == worker_id, Job.status == JobStatus.RUNNING)


def record_progress(
    session: Session, job_id: int, worker_id: str, done: int, total: int | None, message: str | None
) -> bool:
    """Write progress; False when the job is no longer running for this worker (cancelled, recovered)."""
    values: dict[str, Any] = {"progress_done": done, "heartbeat_at": utcnow()}
    if total is not None:
        values["progress_total"] = total
    if message is not None:
        values["message"] = message[:MAX_MESSAGE]
    changed = session.execute(update(Job).where(*_mine(job_id, worker_id)).values(values)).rowcount == 1
    session.commit()
    return changed


def heartbeat(session: Session, job_ids: Iterable[int], worker_id: str) -> None:
    ids = list(job_ids)
    if ids:
        session.execute(
            update(Job)
            .where(Job.id.in_(ids), Job.worker_id == worker_id, Job.status == JobStatus.RUNNING)
            .values(heartbeat_at=utcnow())
        )
        session.commit()


def finish(
    session: Session,
    job_id: int,
    worker_id: str,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> bool:
    """Record the outcome; False when the job is no longer this worker's (it was recovered meanwhile)."""
    values: dict[str, Any] = {"finished_at": utcnow(), "heartbeat_at": None}
    if error is None:
        values.update(status=JobStatus.SUCCEEDED, result=result)
    else:
        values.update(status=JobStatus.FAILED, error=error[:MAX_ERROR], message=error[:MAX_MESSAGE])
    changed = session.execute(update(Job).where(*_mine(job_id, worker_id)).values(values)).rowcount == 1
    session.commit()
    return changed


def cancel(session: Session, job_id: int) -> bool:
    """Mark a queued or running job cancelled (the caller commits); False when it had already ended.

    A queued job is then never claimed; a running one finds out at its next progress write (its
    handler gets `JobCancelled`), and its worker's `finish` no longer matches the row."""
    statement = (
        update(Job)
        .where(Job.id == job_id, Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
        .values(status=JobStatus.CANCELLED, finished_at=utcnow(), heartbeat_at=None, message="cancelled")
    )
    return session.execute(statement).rowcount == 1


def cancel_job(session: Session, job: Job) -> bool:
    """`cancel`, then the kind's `on_cancel` hook (rows that follow the job), in one transaction that
    the caller commits; False when the job had already ended."""
    job_id, kind, started = job.id, job.kind, job.status == JobStatus.RUNNING
    if not cancel(session, job_id):
        return False
    session.expire(job)  # the UPDATE went around the ORM
    hook = ON_CANCEL.get(kind)
    if hook is not None:
        hook(session, job_id, started)
    return True


def is_cancelled(session: Session, job_id: int) -> bool:
    return session.scalar(select(Job.status).where(Job.id == job_id)) == JobStatus.CANCELLED


def recover_stale(session: Session, stale_after: timedelta) -> tuple[list[int], list[int]]:
    """Jobs whose worker stopped heart-beating: re-queued while attempts remain, else failed.

    Returns (re-queued ids, failed ids). The heartbeat test is repeated in each UPDATE, so a
    worker that comes back to life in between keeps its job."""
    cutoff = utcnow() - stale_after
    stale = select(Job.id, Job.attempts, Job.max_attempts).where(
        Job.status == JobStatus.RUNNING, Job.heartbeat_at < cutoff
    )
    if session.get_bind().dialect.name in MYSQL_DIALECTS:
        stale = stale.with_for_update(skip_locked=True)
    requeued: list[int] = []
    failed: list[int] = []
    for job_id, attempts, max_attempts in session.execute(stale.order_by(Job.id)).all():
        still_stale = (Job.id == job_id, Job.status == JobStatus.RUNNING, Job.heartbeat_at < cutoff)
        if attempts < max_attempts:
            values: dict[str, Any] = {
                "status": JobStatus.QUEUED,
                "worker_id": None,
                "heartbeat_at": None,
                "message": f"re-queued: the worker running attempt {attempts} stopped responding",
            }
            target = requeued
        else:
            error = (
                f"the worker running it stopped responding on attempt {attempts} of {max_attempts}; "
                "not retried again"
            )
            values = {
                "status": JobStatus.FAILED,
                "error": error,
                "message": error[:MAX_MESSAGE],
                "finished_at": utcnow(),
                "heartbeat_at": None,
            }
            target = failed
        if session.execute(update(Job).where(*still_stale).values(values)).rowcount == 1:
            target.append(job_id)
    session.commit()
    return requeued, failed


def queued_before(session: Session, cutoff: datetime, limit: int = 1000) -> list[int]:
    """Ids of jobs still queued that were submitted before `cutoff` (for re-dispatching to RQ)."""
    statement = select(Job.id).where(Job.status == JobStatus.QUEUED, Job.created_at < cutoff)
    return list(session.scalars(statement.order_by(Job.id).limit(limit)))
