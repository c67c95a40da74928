"""Background jobs on both backends: submit, run, progress, failure, exclusive claims, crash recovery."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from server.db.models import Job, JobStatus
from server.db.types import utcnow
from server.jobs import JobContext, JobRunner, UnknownJobKind, job_handler, run_pending, store, submit_job
from server.jobs.runner import execute, recover
from server.settings import update_settings

RAN: list[tuple[int, str]] = []
RAN_LOCK = threading.Lock()


@job_handler("test.count")
def count_items(ctx: JobContext, payload: dict) -> dict:
    """Counts to payload["n"], reporting progress, and records which worker ran it."""
    n = payload["n"]
    for i in range(1, n + 1):
        ctx.progress(i, n, message=f"item {i}")
    with RAN_LOCK:
        RAN.append((ctx.job_id, ctx.worker_id))
    time.sleep(payload.get("sleep", 0))
    return {"counted": n, "attempt": ctx.attempt}


@job_handler("test.fail")
def fail(ctx: JobContext, payload: dict) -> dict:
    ctx.progress(1, 3)
    raise RuntimeError(f"disk full while writing {payload['what']}")


@job_handler("test.bad_result")
def bad_result(ctx: JobContext, payload: dict) -> object:
    return ["not", "a", "dict"]


@pytest.fixture(autouse=True)
def _clear_ran():
    RAN.clear()


def test_a_submitted_job_runs_and_records_its_result_and_progress(app, db, make_user):
    owner = make_user("album_user")
    job = submit_job(db, "test.count", payload={"n": 5}, owner_id=owner.id)
    db.commit()
    assert job.status == JobStatus.QUEUED

    assert run_pending(app) == 1
    db.expire_all()
    done = db.get(Job, job.id)
    assert done.status == JobStatus.SUCCEEDED
    assert done.result == {"counted": 5, "attempt": 1}
    assert (done.progress_done, done.progress_total, done.message) == (5, 5, "item 5")
    assert done.attempts == 1 and done.error is None
    assert done.started_at <= done.finished_at
    assert run_pending(app) == 0  # nothing left


def test_a_failing_handler_marks_the_job_failed_with_its_message(app, db):
    job = submit_job(db, "test.fail", payload={"what": "the index"})
    bad = submit_job(db, "test.bad_result")
    db.commit()
    assert run_pending(app) == 2
    db.expire_all()
    failed = db.get(Job, job.id)
    assert failed.status == JobStatus.FAILED
    assert failed.error == "RuntimeError: disk full while writing the index"
    assert failed.finished_at is not None and failed.result is None
    assert db.get(Job, bad.id).status == JobStatus.FAILED
    assert "not a dict" in db.get(Job, bad.id).error


def test_submission_refuses_unknown_kinds_and_non_json_payloads(app, db):
    with pytest.raises(UnknownJobKind, match=r"no handler for job kind 'test\.nope'"):
        submit_job(db, "test.nope")
    with pytest.raises(ValueError, match="JSON"):
        submit_job(db, "test.count", payload={"n": object()})
    db.rollback()
    assert db.scalars(select(Job)).all() == []


def test_rolled_back_submissions_leave_no_job(app, db):
    submit_job(db, "test.count", payload={"n": 1})
    db.rollback()
    assert run_pending(app) == 0


def test_two_runners_never_run_the_same_job(app, db):
    jobs = [submit_job(db, "test.count", payload={"n": 2, "sleep": 0.01}) for _ in range(24)]
    db.commit()
    runners = [JobRunner(app, threads=2) for _ in range(2)]
    for runner in runners:
        runner.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            db.expire_all()
            left = db.scalar(
                select(Job.id).where(Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING])).limit(1)
            )
            if left is None:
                break
            time.sleep(0.1)
    finally:
        for runner in runners:
            runner.stop()
    ran_ids = [job_id for job_id, _ in RAN]
    assert sorted(ran_ids) == sorted(job.id for job in jobs)  # each exactly once
    rows = db.scalars(select(Job)).all()
    assert {row.status for row in rows} == {JobStatus.SUCCEEDED}
    assert {row.attempts for row in rows} == {1}
    workers = {worker for _, worker in RAN}
    assert workers <= {runner.worker_id for runner in runners}


def test_a_job_whose_worker_died_is_requeued_and_run_again(app, db):
    job = submit_job(db, "test.count", payload={"n": 1})
    db.commit()
    # A worker claims it and dies: no heartbeat, no outcome.
    assert store.claim_next(db, "dead-worker", ["test.count"]) == job.id
    db.execute(update(Job).where(Job.id == job.id).values(heartbeat_at=utcnow() - timedelta(minutes=10)))
    db.commit()
    assert run_pending(app) == 0  # running jobs are not claimable

    assert recover(app) == [job.id]
    assert run_pending(app) == 1
    db.expire_all()
    row = db.get(Job, job.id)
    assert row.status == JobStatus.SUCCEEDED
    assert row.attempts == 2 and row.result == {"counted": 1, "attempt": 2}
    # The dead worker coming back cannot overwrite the outcome.
    assert not store.finish(db, job.id, "dead-worker", error="late")
    db.expire_all()
    assert db.get(Job, job.id).status == JobStatus.SUCCEEDED


def test_a_job_out_of_attempts_fails_instead_of_looping(app, db):
    job = submit_job(db, "test.count", payload={"n": 1}, max_attempts=1)
    db.commit()
    store.claim_next(db, "dead-worker", ["test.count"])
    db.execute(update(Job).where(Job.id == job.id).values(heartbeat_at=utcnow() - timedelta(minutes=10)))
    db.commit()
    assert recover(app) == []
    db.expire_all()
    row = db.get(Job, job.id)
    assert row.status == JobStatus.FAILED
    assert "stopped responding on attempt 1 of 1" in row.error


def test_a_live_heartbeat_is_not_recovered(app, db):
    job = submit_job(db, "test.count", payload={"n": 1})
    db.commit()
    store.claim_next(db, "live-worker", ["test.count"])
    assert recover(app) == []
    assert execute(app, job.id, "live-worker")
    db.expire_all()
    assert db.get(Job, job.id).status == JobStatus.SUCCEEDED


def test_the_started_runner_picks_up_jobs_on_commit(app, db):
    update_settings(app, JOBS_POLL_SECONDS=30.0)  # only the commit's wake-up can make this fast
    from server import jobs

    runner = jobs.start(app, force=True)
    try:
        job = submit_job(db, "test.count", payload={"n": 3})
        db.commit()
        deadline = time.monotonic() + 20
        status = None
        while time.monotonic() < deadline:
            db.expire_all()
            status = db.get(Job, job.id).status
            if status == JobStatus.SUCCEEDED:
                break
            time.sleep(0.05)
        assert status == JobStatus.SUCCEEDED
    finally:
        runner.stop()
