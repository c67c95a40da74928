"""Jobs through RQ on the real Redis at 127.0.0.1:6379 (REDIS_URL / VISAGE_TEST_REDIS_URL):
the queue carries ids, the jobs row stays the truth, duplicates run once, lost messages are re-sent."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta

import pytest
from sqlalchemy import update

from server.db.models import Job, JobStatus
from server.db.types import utcnow
from server.jobs import JobContext, job_handler, queue, submit_job
from server.settings import update_settings

REDIS_URL = os.environ.get("VISAGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@job_handler("test.rq.double")
def double(ctx: JobContext, payload: dict) -> dict:
    ctx.progress(1, 1)
    return {"double": payload["x"] * 2, "worker": ctx.worker_id.split(":")[0]}


@pytest.fixture
def rq_app(app):
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    try:
        Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except RedisConnectionError as exc:
        message = (
            f"Redis at {REDIS_URL} is unreachable ({exc}); start redis-server or set VISAGE_TEST_REDIS_URL"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from server.db.session import get_db
    from server.jobs import store

    update_settings(
        app, JOBS_RUNNER="rq", REDIS_URL=REDIS_URL, JOBS_RQ_QUEUE=f"visage-test-{secrets.token_hex(4)}"
    )
    store.set_dispatcher(get_db(app).engine, queue.dispatcher(app))
    queue.bind(app)
    yield app
    queue.queue(app).delete(delete_jobs=True)
    queue.bind(None)


def work(app) -> None:
    from rq import SimpleWorker

    rq_queue = queue.queue(app)
    SimpleWorker([rq_queue], connection=rq_queue.connection).work(burst=True, with_scheduler=False)


def test_a_committed_job_is_enqueued_on_redis_and_an_rq_worker_runs_it(rq_app, db, make_user):
    owner = make_user("album_user")
    job = submit_job(db, "test.rq.double", payload={"x": 21}, owner_id=owner.id)
    rq_queue = queue.queue(rq_app)
    assert rq_queue.count == 0  # nothing is sent before the commit
    db.commit()
    assert rq_queue.job_ids == [queue.rq_job_id(job.id)]
    assert rq_queue.fetch_job(queue.rq_job_id(job.id)).args == (job.id,)  # only the id travels

    work(rq_app)
    db.expire_all()
    row = db.get(Job, job.id)
    assert row.status == JobStatus.SUCCEEDED
    assert row.result == {"double": 42, "worker": "rq"}
    assert rq_queue.count == 0


def test_a_duplicate_delivery_runs_the_job_once(rq_app, db):
    job = submit_job(db, "test.rq.double", payload={"x": 1})
    db.commit()
    assert queue.perform(job.id) == "succeeded"
    assert queue.perform(job.id).startswith("skipped")
    db.expire_all()
    assert db.get(Job, job.id).attempts == 1


def test_the_sweep_resends_a_job_whose_message_was_lost(rq_app, db):
    job = submit_job(db, "test.rq.double", payload={"x": 5})
    db.commit()
    queue.queue(rq_app).empty()  # Redis lost it
    db.execute(update(Job).where(Job.id == job.id).values(created_at=utcnow() - timedelta(hours=1)))
    db.commit()
    assert queue.sweep(rq_app) == 1
    assert queue.sweep(rq_app) == 0  # still on the queue: not sent twice
    work(rq_app)
    db.expire_all()
    assert db.get(Job, job.id).result == {"double": 10, "worker": "rq"}
