"""`visage server worker`: a process that runs background jobs (what visage-worker.service starts),
and `visage server retention`: the daily deletion of old biometric data (visage-retention.timer).

With JOBS_RUNNER "thread" (or "none") it claims queued rows from the database with a pool of
threads; with "rq" it is an RQ worker on REDIS_URL's queue. Either way it also re-queues jobs whose
worker died. `--burst` runs what is queued and exits (cron, tests).
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading

from visage.subcommands.running import wait_until_stopped


def register_action(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("worker", help="run background jobs (album indexing, scoring, retention)")
    parser.add_argument("--threads", type=int, default=None, help="job threads (default: JOBS_THREADS)")
    parser.add_argument("--burst", action="store_true", help="run the queued jobs, then exit")
    parser.set_defaults(handler=run_worker)

    retention = commands.add_parser(
        "retention", help="delete biometric and diagnostic data older than the retention periods"
    )
    retention.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    retention.add_argument(
        "--queue", action="store_true", help="submit the job for the job workers instead of running it here"
    )
    retention.set_defaults(handler=run_retention)

    reembed = commands.add_parser(
        "reembed", help="convert stored faces to the configured embedder (GALLERY_MODEL) after a switch"
    )
    reembed.add_argument(
        "--queue", action="store_true", help="submit the job for the job workers instead of running it here"
    )
    reembed.set_defaults(handler=run_reembed)


def run_worker(args: argparse.Namespace) -> int:
    from visage.subcommands.errors import CommandError
    from visage.subcommands.server import database_errors, load_app, require_schema

    app = load_app()
    with database_errors(app):
        require_schema(app)
    from server.logs import configure_logging

    configure_logging(app)
    from server.settings import settings_of

    jobs = settings_of(app).jobs
    threads = args.threads if args.threads is not None else jobs.threads
    if threads < 1:
        raise CommandError("--threads must be at least 1")
    if jobs.runner == "rq":
        return _run_rq(app, args.burst)
    return _run_threads(app, threads, args.burst)


def _run_threads(app, threads: int, burst: bool) -> int:
    from server.jobs import JobRunner, run_pending
    from server.jobs.runner import recover

    if burst:
        recover(app)
        print(f"ran {run_pending(app)} job(s)")
        return 0
    runner = JobRunner(app, threads=threads).start()
    print(f"job worker {runner.worker_id} running {threads} thread(s); Ctrl-C to stop", flush=True)
    try:
        wait_until_stopped(threading.Event())
    finally:
        runner.stop()
    return 0


def _run_rq(app, burst: bool) -> int:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from rq import SimpleWorker

    from server.jobs import queue
    from server.settings import settings_of
    from visage.subcommands.errors import CommandError

    jobs = settings_of(app).jobs
    queue.bind(app)
    connection = queue.connect(app)
    try:
        connection.ping()
        queue.sweep(app)
    except RedisConnectionError as exc:
        raise CommandError(f"cannot reach Redis at {jobs.redis_url}: {exc}") from exc
    stop = threading.Event()
    period = max(1.0, jobs.stale_seconds / 4)

    def sweep_forever() -> None:
        while not stop.wait(period):
            try:
                queue.sweep(app)
            except Exception:
                logging.getLogger("visage.jobs").exception("job sweep failed")

    sweeper = threading.Thread(target=sweep_forever, name="jobs-sweep", daemon=True)
    if not burst:
        sweeper.start()
    worker = SimpleWorker([queue.queue(app, connection)], connection=connection)
    try:
        worker.work(burst=burst, with_scheduler=False)
    finally:
        stop.set()
    return 0


def run_retention(args: argparse.Namespace) -> int:
    """Submit an `ops.retention` job and (unless --queue) run it in this process; print what it did."""
    from server.retention import JOB_KIND
    from visage.subcommands.server import load_app

    app = load_app()  # a bad RETENTION_* setting stops here, as every setting does
    return _run_job_here(app, JOB_KIND, {"dry_run": args.dry_run}, args.queue, "retention")


def run_reembed(args: argparse.Namespace) -> int:
    """Submit a `faces.reembed` job and (unless --queue) run it here; print what it converted."""
    from server.reembed import KIND
    from visage.subcommands.server import load_app

    return _run_job_here(load_app(), KIND, {}, args.queue, "re-embedding")


def _run_job_here(app, kind: str, payload: dict, queue_only: bool, what: str) -> int:
    """Submit a job of `kind`; unless `queue_only`, claim and run it in this process and print its result."""
    import json

    from server.db import get_db
    from server.db.models import Job, JobStatus
    from server.jobs import runner, store, submit_job
    from visage.subcommands.server import database_errors, require_schema

    with database_errors(app):
        require_schema(app)
        database = get_db(app)
        with database.session() as session:
            job = submit_job(session, kind, payload=payload)
            session.commit()
            job_id = job.id
        if queue_only:
            print(f"{what} job {job_id} queued")
            return 0
        worker_id = runner.new_worker_id("cli")
        with database.session() as session:
            if not store.claim_job(session, job_id, worker_id):
                print(f"{what} job {job_id} was taken by a job worker; follow it there")
                return 0
        runner.execute(app, job_id, worker_id)
        with database.session() as session:
            done = session.get(Job, job_id)
            if done is None or done.status != JobStatus.SUCCEEDED:
                print(
                    f"visage: {what} job {job_id} failed: {done.error if done else 'deleted'}",
                    file=sys.stderr,
                )
                return 1
            print(json.dumps(done.result, indent=2, sort_keys=True))
    return 0
