"""What a job handler gets besides its payload: progress reporting, database sessions, the app."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from server.db.session import get_db
from server.jobs import store
from server.settings import settings_of

if TYPE_CHECKING:
    from flask import Flask


class JobCancelled(Exception):
    """Raised in a handler by `JobContext.progress()`/`flush()` once its job was cancelled.

    A handler of a cancellable kind may catch it to tidy up, then must re-raise it; the runner
    ends the job there, recording nothing (the row stays cancelled)."""


class JobContext:
    """One running job, as its handler sees it.

    `progress()` may be called for every item: it writes to the database at most every
    `JOBS_PROGRESS_SECONDS` (and always for the last item), so that a loop over 50,000 photos
    does not turn into 50,000 UPDATEs. The same write tells the handler that its job was
    cancelled (`JobCancelled`); `cancelled()` asks directly, for handlers without progress."""

    def __init__(
        self, app: Flask, job_id: int, kind: str, owner_id: int | None, worker_id: str, attempt: int
    ):
        self.app = app
        self.job_id = job_id
        self.kind = kind
        self.owner_id = owner_id
        self.worker_id = worker_id
        self.attempt = attempt  # 1 on the first run; more after a worker died running it
        self._interval = settings_of(app).jobs.progress_seconds
        self._last_write = 0.0
        self._pending: tuple[int, int | None, str | None] | None = None

    def session(self) -> Session:
        """A new SQLAlchemy session on the app's database; use as `with ctx.session() as s:`."""
        return get_db(self.app).session()

    def progress(self, done: int, total: int | None = None, message: str | None = None) -> None:
        """Report `done` of `total` items (and what is happening); persisted, throttled.

        Raises `JobCancelled` when the write finds the job cancelled."""
        self._pending = (int(done), None if total is None else int(total), message)
        now = time.monotonic()
        if now - self._last_write >= self._interval or (total is not None and done >= total):
            self.flush()

    def flush(self) -> None:
        """Write the latest progress now (the runner calls it when the handler returns)."""
        if self._pending is None:
            return
        done, total, message = self._pending
        self._pending = None
        self._last_write = time.monotonic()
        with self.session() as session:
            written = store.record_progress(session, self.job_id, self.worker_id, done, total, message)
            # Not written: cancelled, or recovered from this worker (then its `finish` is dropped).
            if not written and store.is_cancelled(session, self.job_id):
                raise JobCancelled(f"job {self.job_id} was cancelled")

    def cancelled(self) -> bool:
        """Whether the job was cancelled (one SELECT; `progress()` already checks as it writes)."""
        with self.session() as session:
            return store.is_cancelled(session, self.job_id)

    @property
    def config(self) -> dict[str, Any]:
        return self.app.config
