"""Cancelling jobs: a queued job never runs, a running one stops at its next progress report (or
`ctx.cancelled()` check) while its runner thread goes on, and POST /api/v1/jobs/<id>/cancel answers
404 / 409 like the rest of the jobs API."""

from __future__ import annotations

import threading
import time

import pytest

from server import jobs
from server.db.models import Job, JobStatus
from server.jobs import JobCancelled, JobContext, job_handler, run_pending, store, submit_job
from server.jobs.handlers import is_cancellable
from server.settings import update_settings
from tests.conftest import wait_until
from tests.server.test_server_enrolment_support import bearer

STARTED = threading.Event()
STOPPED = threading.Event()
LOOP_SECONDS = 20.0


@job_handler("test.cancel.loop", cancellable=True)
def loop(ctx: JobContext, payload: dict) -> dict:
    """Works for up to LOOP_SECONDS, reporting progress (or, with "poll", asking `ctx.cancelled()`)."""
    STARTED.set()
    steps = int(LOOP_SECONDS / 0.05)
    try:
        for i in range(steps):
            if payload.get("poll"):
                if ctx.cancelled():
                    raise JobCancelled("asked and told")
            else:
                ctx.progress(i, steps, message=f"step {i}")
            time.sleep(0.05)
        return {"finished": True}
    finally:
        STOPPED.set()


@job_handler("test.cancel.quick", cancellable=True)
def quick(ctx: JobContext, payload: dict) -> dict:
    ctx.progress(1, 1)
    return {"ok": True}


@pytest.fixture(autouse=True)
def _reset_events():
    STARTED.clear()
    STOPPED.clear()


def fresh(db, job_id: int) -> Job:
    db.rollback()  # a new transaction: what the workers committed meanwhile
    db.expire_all()  # (the app's sessions keep objects after a commit)
    return db.get(Job, job_id)


def test_a_queued_job_cancelled_over_the_api_never_runs(app, client, db, make_user, make_token):
    owner = make_user("album_user")
    token = make_token(owner)
    job = submit_job(db, "test.cancel.quick", owner_id=owner.id)
    db.commit()

    answer = client.post(f"/api/v1/jobs/{job.id}/cancel", headers=bearer(token))
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["status"] == "cancelled" and body["message"] == "cancelled"
    assert body["finished_at"] is not None and body["result"] is None and body["error"] is None
    assert run_pending(app) == 0
    assert fresh(db, job.id).status == JobStatus.CANCELLED
    assert client.get(f"/api/v1/jobs/{job.id}", headers=bearer(token)).get_json()["status"] == "cancelled"
    listed = client.get("/api/v1/jobs?status=cancelled", headers=bearer(token)).get_json()["jobs"]
    assert [j["id"] for j in listed] == [job.id]

    again = client.post(f"/api/v1/jobs/{job.id}/cancel", headers=bearer(token))
    assert again.status_code == 409 and "already ended (cancelled)" in again.get_json()["error"]


@pytest.mark.parametrize("how", ["progress", "poll"])
def test_a_running_job_stops_and_its_runner_thread_serves_the_next_job(app, db, how):
    update_settings(app, JOBS_THREADS=1, JOBS_PROGRESS_SECONDS=0.1)
    runner = jobs.start(app, force=True)
    try:
        job = submit_job(db, "test.cancel.loop", payload={"poll": how == "poll"})
        db.commit()
        assert STARTED.wait(20), "the runner did not start the job"
        assert wait_until(lambda: fresh(db, job.id).status == JobStatus.RUNNING, 10)

        assert store.cancel(db, job.id)
        db.commit()
        cancelled_at = time.monotonic()
        assert STOPPED.wait(5), "the handler did not stop after the cancel"
        assert time.monotonic() - cancelled_at < 3

        row = fresh(db, job.id)
        assert row.status == JobStatus.CANCELLED and row.message == "cancelled"
        assert row.error is None and row.result is None and row.finished_at is not None
        assert not store.cancel(db, job.id)  # already ended

        # The only worker thread is free again: the next job runs to success.
        after = submit_job(db, "test.cancel.quick")
        db.commit()
        assert wait_until(lambda: fresh(db, after.id).status == JobStatus.SUCCEEDED, 20)
        assert fresh(db, job.id).status == JobStatus.CANCELLED  # the late outcome changed nothing
    finally:
        runner.stop()


def test_cancel_answers_404_for_others_and_409_for_fixed_kinds_and_ended_jobs(
    app, client, db, make_user, make_token
):
    owner = make_user("album_user")
    other = make_user("album_user")
    admin = make_user("admin")
    token = make_token(owner)
    theirs = submit_job(db, "test.cancel.quick", owner_id=owner.id)
    db.commit()

    hidden = client.post(f"/api/v1/jobs/{theirs.id}/cancel", headers=bearer(make_token(other)))
    assert hidden.status_code == 404 and hidden.get_json() == {"error": f"no job {theirs.id}"}
    assert client.post("/api/v1/jobs/999999/cancel", headers=bearer(token)).status_code == 404
    assert fresh(db, theirs.id).status == JobStatus.QUEUED

    done = submit_job(db, "test.cancel.quick", owner_id=owner.id)
    db.commit()
    by_admin = client.post(f"/api/v1/jobs/{theirs.id}/cancel", headers=bearer(make_token(admin)))
    assert by_admin.status_code == 200 and by_admin.get_json()["status"] == "cancelled"
    assert run_pending(app) == 1
    assert fresh(db, done.id).status == JobStatus.SUCCEEDED
    ended = client.post(f"/api/v1/jobs/{done.id}/cancel", headers=bearer(token))
    assert ended.status_code == 409 and "already ended (succeeded)" in ended.get_json()["error"]
    assert fresh(db, done.id).status == JobStatus.SUCCEEDED

    indexing = submit_job(db, "album.index", payload={"photo_ids": []}, owner_id=owner.id)
    db.commit()
    assert not is_cancellable("album.index") and is_cancellable("deepfake.score")
    fixed = client.post(f"/api/v1/jobs/{indexing.id}/cancel", headers=bearer(token))
    assert fixed.status_code == 409
    assert fixed.get_json()["error"] == "jobs of kind album.index cannot be cancelled"
    assert fresh(db, indexing.id).status == JobStatus.QUEUED
