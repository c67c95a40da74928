"""Background jobs: handlers registered by kind, rows in the `jobs` table, run by a thread pool in
the server process (`JOBS_RUNNER = "thread"`, the default) or by RQ workers on Redis (`"rq"`).

    from server.jobs import JobContext, job_handler, submit_job

    @job_handler("album.index")            # in a module listed in JOB_MODULES below
    def index(ctx: JobContext, payload: dict) -> dict | None:
        ctx.progress(done, total, message="...")
        with ctx.session() as s: ...
        return {"indexed": n}              # stored as the job's JSON result

    job = submit_job(db_session, "album.index", payload={...}, owner_id=user.id)
    db_session.commit()                     # the job is handed to a worker on commit

Tests: `run_pending(app)` runs queued jobs in the calling thread (no threads start when TESTING,
unless `JOBS_START=1`). Status for clients: `GET /api/v1/jobs/<id>` (server.jobs.api).

Cancelling (`@job_handler(kind, cancellable=True)`, `POST /api/v1/jobs/<id>/cancel`): a queued job is
never claimed; a running one gets `JobCancelled` from its next `ctx.progress()` and ends there.

Settings (`VISAGE_<KEY>`; typed and checked at start in server/settings/jobs.py): JOBS_RUNNER
("thread", "rq" or "none": only submit), JOBS_THREADS, JOBS_START (None: start where the app serves,
i.e. gunicorn and `visage server run`; true: also in `create_app`; false: never, leave jobs to
`visage server worker`), REDIS_URL, JOBS_RQ_QUEUE, JOBS_POLL_SECONDS, JOBS_HEARTBEAT_SECONDS,
JOBS_STALE_SECONDS, JOBS_PROGRESS_SECONDS.
"""

from __future__ import annotations

import atexit
import weakref
from typing import TYPE_CHECKING

from server.jobs.context import JobCancelled, JobContext
from server.jobs.handlers import UnknownJobKind, job_handler, load_handlers
from server.jobs.runner import JobRunner, run_pending
from server.jobs.store import submit_job
from server.settings import settings_of

if TYPE_CHECKING:
    from flask import Flask

# Modules that register handlers with @job_handler; imported when the app starts (additive edits).
JOB_MODULES: tuple[str, ...] = (
    "server.album.indexing",
    "server.attendance.refresh",
    "server.deepfake.jobs",
    "server.retention",
    "server.reembed",
)

EXTENSION_KEY = "visage.jobs"


def init_app(app: Flask) -> None:
    """Import the handler modules and hand committed jobs to the right runner (the settings were
    checked at app start: server/settings/jobs.py)."""
    from server.db.session import get_db
    from server.jobs import queue, store

    settings = settings_of(app).jobs
    mode = settings.runner
    load_handlers()
    app.extensions[EXTENSION_KEY] = None  # the JobRunner, once started
    engine = get_db(app).engine
    if mode == "rq":
        store.set_dispatcher(engine, queue.dispatcher(app))
    else:
        app_ref = weakref.ref(app)  # the registry must not keep the app (and its engine) alive
        store.set_dispatcher(engine, lambda ids: _wake(app_ref(), ids))
    if settings.start:
        start(app)


def _wake(app: Flask | None, job_ids: list[int]) -> None:
    job_runner = app.extensions.get(EXTENSION_KEY) if app is not None else None
    if job_runner is not None:
        job_runner.wake(job_ids)


def start(app: Flask, force: bool = False) -> JobRunner | None:
    """Start the in-process runner if this app runs jobs in threads (idempotent).

    Called where the app serves requests (server.wsgi, `visage server run`). Not when TESTING or
    JOBS_START is false, unless `force`."""
    settings = settings_of(app).jobs
    if settings.runner != "thread":
        return None
    if not force and settings.start is False:
        return None
    if not force and settings.start is None and app.config.get("TESTING"):
        return None
    job_runner = app.extensions.get(EXTENSION_KEY)
    if job_runner is None:
        job_runner = JobRunner(app, threads=settings.threads)
        app.extensions[EXTENSION_KEY] = job_runner
        atexit.register(job_runner.stop, 5.0)
    return job_runner.start()


def stop(app: Flask) -> None:
    job_runner = app.extensions.get(EXTENSION_KEY)
    if job_runner is not None:
        job_runner.stop()


__all__ = [
    "JOB_MODULES",
    "JobCancelled",
    "JobContext",
    "JobRunner",
    "UnknownJobKind",
    "init_app",
    "job_handler",
    "run_pending",
    "start",
    "stop",
    "submit_job",
]
