"""Jobs on RQ (Redis) when `JOBS_RUNNER = "rq"`: the queue carries job ids, the `jobs` row stays the truth.

Submitting commits a queued row, then enqueues `perform(job_id)` on the RQ queue `JOBS_RQ_QUEUE`
of `REDIS_URL`. An RQ worker (`visage server worker`, which runs RQ's SimpleWorker) claims that
row with the same conditional UPDATE the in-process runner uses, so a message delivered twice
runs the job once, and a message lost (Redis restarted without persistence) is re-sent by the
worker's sweep of rows queued for longer than `JOBS_STALE_SECONDS`.
"""

from __future__ import annotations

import logging
import threading
import weakref
from datetime import timedelta
from typing import TYPE_CHECKING

from server.db.session import get_db
from server.db.types import utcnow
from server.jobs import runner, store
from server.settings import settings_of

if TYPE_CHECKING:
    from flask import Flask
    from redis import Redis
    from rq import Queue

log = logging.getLogger("visage.jobs")

_bound_app: Flask | None = None
_lock = threading.Lock()


def rq_job_id(job_id: int) -> str:
    return f"visage-job-{job_id}"


def connect(app: Flask) -> Redis:
    from redis import Redis

    return Redis.from_url(settings_of(app).jobs.redis_url)


def queue(app: Flask, connection: Redis | None = None) -> Queue:
    from rq import Queue

    return Queue(settings_of(app).jobs.rq_queue, connection=connection or connect(app))


def enqueue(app: Flask, job_ids: list[int], skip_active: bool = False) -> int:
    """Put `perform(id)` on the queue for each id; with `skip_active`, not for ids RQ still holds."""
    from rq.job import Job as RQJob
    from rq.job import JobStatus as RQStatus

    rq_queue = queue(app)
    count = 0
    for job_id in job_ids:
        if skip_active:
            try:
                status = RQJob.fetch(rq_job_id(job_id), connection=rq_queue.connection).get_status()
            except Exception:  # missing (expired, lost): enqueue again
                status = None
            if status in (RQStatus.QUEUED, RQStatus.STARTED, RQStatus.DEFERRED, RQStatus.SCHEDULED):
                continue
        rq_queue.enqueue(
            perform,
            job_id,
            job_id=rq_job_id(job_id),
            job_timeout=settings_of(app).jobs.rq_timeout,
            result_ttl=0,  # the result lives in the jobs table
            failure_ttl=24 * 3600,
        )
        count += 1
    return count


def dispatcher(app: Flask):
    """The after-commit hook for RQ mode: enqueue, and only log if Redis is down (the sweep resends)."""

    app_ref = weakref.ref(app)  # held by a registry keyed by the app's engine: no strong reference

    def dispatch(job_ids: list[int]) -> None:
        bound = app_ref()
        if bound is None:
            return
        try:
            enqueue(bound, job_ids)
        except Exception:
            log.exception("could not enqueue jobs %s on RQ; the worker's sweep will resend them", job_ids)

    return dispatch


def bind(app: Flask | None) -> None:
    """The app `perform` runs jobs with in this process (`visage server worker` binds its own)."""
    global _bound_app
    _bound_app = app


def _app() -> Flask:
    global _bound_app
    with _lock:
        if _bound_app is None:
            from server.app import create_app

            _bound_app = create_app()
        return _bound_app


def perform(job_id: int) -> str:
    """RQ's entry point: claim job `job_id` if it is still queued, and run it."""
    app = _app()
    worker_id = runner.new_worker_id("rq")
    with get_db(app).session() as session:
        if not store.claim_job(session, job_id, worker_id):
            return "skipped: not queued (already run, running elsewhere, or deleted)"
    return "succeeded" if runner.execute(app, job_id, worker_id) else "failed"


def sweep(app: Flask) -> int:
    """Recover dead workers' jobs, and re-send rows queued too long that RQ no longer holds."""
    runner.recover(app)
    cutoff = utcnow() - timedelta(seconds=settings_of(app).jobs.stale_seconds)
    with get_db(app).session() as session:
        waiting = store.queued_before(session, cutoff)
    return enqueue(app, waiting, skip_active=True) if waiting else 0
