"""Running jobs: `execute` one claimed job; `JobRunner`, a pool of threads that claim and execute
queued jobs in this process; `run_pending`, the same synchronously (tests, `--burst`).

A running job's row gets a heartbeat every `JOBS_HEARTBEAT_SECONDS` from a small thread beside
the handler; each runner also re-queues jobs whose heartbeat is older than `JOBS_STALE_SECONDS`
(their worker died: killed, out of memory, machine lost), up to the job's `max_attempts`.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
import traceback
from datetime import timedelta
from typing import TYPE_CHECKING

from server.db.models.jobs import Job
from server.db.session import get_db
from server.jobs import store
from server.jobs.context import JobCancelled, JobContext
from server.jobs.handlers import HANDLERS, UnknownJobKind, get_handler, load_handlers
from server.settings import settings_of

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger("visage.jobs")


def new_worker_id(prefix: str = "thread") -> str:
    """Unique per runner: host, process and a random suffix (two runners in one process differ)."""
    return f"{prefix}:{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(3)}"[:64]


class _Heartbeat:
    """Keeps one running job's heartbeat fresh while its handler works."""

    def __init__(self, app: Flask, job_id: int, worker_id: str) -> None:
        self.app, self.job_id, self.worker_id = app, job_id, worker_id
        self.interval = settings_of(app).jobs.heartbeat_seconds
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"job-{job_id}-heartbeat", daemon=True)

    def _beat(self) -> None:
        while not self.done.wait(self.interval):
            try:
                with get_db(self.app).session() as session:
                    store.heartbeat(session, [self.job_id], self.worker_id)
            except Exception:  # a missed beat is retried; recovery tolerates several
                log.warning("heartbeat of job %s failed", self.job_id, exc_info=True)

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.done.set()
        self.thread.join()


def execute(app: Flask, job_id: int, worker_id: str) -> bool:
    """Run a job this worker has claimed and record its result or error; True if it succeeded.

    Any exception of the handler marks the job failed with the exception's text (the traceback
    goes to the log), so a job never stays 'running' because its code raised. `JobCancelled` is
    not a failure: the job ends there and its row stays as `store.cancel` left it."""
    database = get_db(app)
    with database.session() as session:
        job = session.get(Job, job_id)
        if job is None:
            return False
        kind, payload, owner_id, attempt = job.kind, dict(job.payload or {}), job.owner_id, job.attempts
    context = JobContext(app, job_id, kind, owner_id, worker_id, attempt)
    error: str | None = None
    result: dict | None = None
    with _Heartbeat(app, job_id, worker_id):
        try:
            handler = get_handler(kind)
            result = handler(context, payload)
            if result is not None and not isinstance(result, dict):
                raise TypeError(f"the handler returned {type(result).__name__}, not a dict or None")
            json.dumps(result)
            context.flush()
        except JobCancelled:
            log.info("job %s (%s) was cancelled; its handler stopped", job_id, kind)
            return False
        except UnknownJobKind as exc:
            error = str(exc)
        except Exception as exc:
            log.error("job %s (%s) failed:\n%s", job_id, kind, traceback.format_exc())
            error = f"{type(exc).__name__}: {exc}"
    with database.session() as session:
        if not store.finish(session, job_id, worker_id, result=result, error=error):
            if store.is_cancelled(session, job_id):
                log.info("job %s (%s) was cancelled as its handler returned; outcome dropped", job_id, kind)
                return False
            log.warning(
                "job %s was taken from worker %s before it finished; outcome dropped", job_id, worker_id
            )
            return False
    if error is None:
        log.info("job %s (%s) succeeded", job_id, kind)
    return error is None


def claim_and_execute(app: Flask, worker_id: str) -> bool:
    """Claim the oldest runnable job and run it; False when there was none."""
    with get_db(app).session() as session:
        job_id = store.claim_next(session, worker_id, list(HANDLERS))
    if job_id is None:
        return False
    execute(app, job_id, worker_id)
    return True


def run_pending(app: Flask, limit: int | None = None) -> int:
    """Run queued jobs one after another in this thread until none is left (or `limit` ran)."""
    load_handlers()
    worker_id = new_worker_id("sync")
    count = 0
    while limit is None or count < limit:
        if not claim_and_execute(app, worker_id):
            break
        count += 1
    return count


def recover(app: Flask) -> list[int]:
    """Re-queue (or fail) jobs whose worker died, and hand the re-queued ones to the dispatcher."""
    stale_after = timedelta(seconds=settings_of(app).jobs.stale_seconds)
    database = get_db(app)
    with database.session() as session:
        requeued, failed = store.recover_stale(session, stale_after)
    for job_id in requeued:
        log.warning("job %s re-queued: its worker stopped responding", job_id)
    for job_id in failed:
        log.error("job %s failed: its worker stopped responding on the last attempt", job_id)
    store.dispatch(database.engine, requeued)
    return requeued


class JobRunner:
    """`threads` worker threads claiming queued jobs, plus one thread recovering dead workers' jobs."""

    def __init__(self, app: Flask, threads: int = 2, worker_id: str | None = None) -> None:
        if threads < 1:
            raise ValueError("a job runner needs at least one thread")
        load_handlers()
        self.app = app
        self.threads = threads
        self.worker_id = worker_id or new_worker_id()
        settings = settings_of(app).jobs
        self.poll = settings.poll_seconds
        self.recover_every = max(1.0, settings.stale_seconds / 4)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def start(self) -> JobRunner:
        if self.running:
            return self
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._work, name=f"jobs-{i}", daemon=True) for i in range(self.threads)
        ]
        self._threads.append(threading.Thread(target=self._recover, name="jobs-recovery", daemon=True))
        for thread in self._threads:
            thread.start()
        log.info("job runner %s started with %d threads", self.worker_id, self.threads)
        return self

    def wake(self, _job_ids: list[int] | None = None) -> None:
        """New jobs were committed: stop waiting for the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the jobs in hand and stop (a job still running after `timeout` is recovered later)."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            # Wake repeatedly: a sibling thread may clear the event just after one set().
            while thread.is_alive() and time.monotonic() < deadline:
                self._wake.set()
                thread.join(0.1)

    def _work(self) -> None:
        while not self._stop.is_set():
            # Cleared before looking: a job committed from now on sets it again, so the wait
            # below never sleeps through a job that the claim did not see.
            self._wake.clear()
            try:
                if claim_and_execute(self.app, self.worker_id):
                    continue
            except Exception:  # the database went away: keep the thread, retry after a pause
                log.exception("job runner %s could not claim a job", self.worker_id)
            self._wake.wait(self.poll)

    def _recover(self) -> None:
        while not self._stop.wait(self.recover_every):
            try:
                recover(self.app)
            except Exception:
                log.exception("job recovery failed")
