"""`visage server worker`: runs queued jobs from the configured database; bad settings exit 2."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from server.db.models import Job, JobStatus
from server.jobs import JobContext, job_handler, submit_job
from visage.cli import main


@job_handler("test.cli.hello")
def hello(ctx: JobContext, payload: dict) -> dict:
    return {"hello": payload["name"]}


@pytest.fixture(autouse=True)
def _restore_logging():
    """The command installs its log handler on the root logger; keep it out of later tests."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_burst_worker_runs_the_queued_jobs_and_exits(server_env, app, db, capsys):
    jobs = [submit_job(db, "test.cli.hello", payload={"name": name}) for name in ("ada", "alan")]
    db.commit()
    assert main(["server", "worker", "--burst"]) == 0
    assert "ran 2 job(s)" in capsys.readouterr().out
    db.expire_all()
    rows = db.scalars(select(Job).where(Job.id.in_([job.id for job in jobs])).order_by(Job.id)).all()
    assert [(row.status, row.result) for row in rows] == [
        (JobStatus.SUCCEEDED, {"hello": "ada"}),
        (JobStatus.SUCCEEDED, {"hello": "alan"}),
    ]


def test_an_unknown_runner_or_rq_without_redis_is_one_sentence_and_exit_2(server_env, monkeypatch, capsys):
    monkeypatch.setenv("VISAGE_JOBS_RUNNER", "celery")
    assert main(["server", "worker", "--burst"]) == 2
    assert "JOBS_RUNNER must be one of thread, rq, none, not 'celery'" in capsys.readouterr().err
    monkeypatch.setenv("VISAGE_JOBS_RUNNER", "rq")
    assert main(["server", "worker", "--burst"]) == 2
    assert "REDIS_URL is not set" in capsys.readouterr().err


def test_an_unreachable_redis_is_one_sentence_and_exit_2(server_env, monkeypatch, capsys):
    monkeypatch.setenv("VISAGE_JOBS_RUNNER", "rq")
    monkeypatch.setenv("VISAGE_REDIS_URL", "redis://127.0.0.1:1/0")
    assert main(["server", "worker", "--burst"]) == 2
    assert "cannot reach Redis at redis://127.0.0.1:1/0" in capsys.readouterr().err
