"""The attendance rows derived from sightings, written when the evidence changes, never on a read.

A session's derived rows are its sightings (`Sighting.session_id`), the review rows of its unknown
faces (`UnknownFaceReview`) and their places in the course's clusters (`UnknownCluster`). They
are written:

* by ingest, which places every sighting it stores in its session (`server.school.schedule`'s
  rule) and then queues one `attendance.refresh` job per session that got new sightings (one
  queued job per session at a time: a busy lecture is refreshed as often as a job can run, not
  once per MQTT message);
* when a session is created or moved (`session_scheduled`): it takes the room's sightings of its
  window that no session holds yet, and lists their unknown faces, in the request that schedules it.

So every page and GET endpoint only reads (tests/server/test_server_attendance_reads.py counts
the statements). Recomputing gives the same rows, so a refresh that runs twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.attendance.clusters import cluster_session
from server.attendance.review import sync_unknown_faces
from server.attendance.service import attach_sightings, compute_session
from server.db.models import LectureSession
from server.db.models.jobs import Job, JobStatus
from server.jobs import JobContext, job_handler, submit_job

JOB_KIND = "attendance.refresh"


def refresh_session(db: Session, lecture: LectureSession, config: Mapping[str, Any]) -> None:
    """Bring the session's derived rows up to date, committing each step: attach the room's
    free sightings of its window, list its new unknown faces (and close those the device named
    since), place them in the course's clusters (one pass, all or nothing)."""
    if attach_sightings(db, lecture, config):
        db.commit()
    report = compute_session(db, lecture, config)
    try:
        if sync_unknown_faces(db, lecture, report):
            db.commit()
    except IntegrityError:  # a concurrent refresh listed the same face first: its row will do
        db.rollback()
    try:
        if cluster_session(db, lecture, config):
            db.commit()
    except IntegrityError:  # a concurrent refresh placed the same faces first: its clusters will do
        db.rollback()


def request_refresh(db: Session, session_ids: Iterable[int]) -> list[int]:
    """Queue a refresh job for each of these sessions that has none queued yet (in `db`'s
    transaction: the jobs start once it commits). Returns the sessions queued now."""
    wanted = sorted(set(session_ids))
    if not wanted:
        return []
    queued = {
        payload.get("session_id")
        for payload in db.scalars(
            select(Job.payload).where(Job.kind == JOB_KIND, Job.status == JobStatus.QUEUED)
        )
        if isinstance(payload, dict)
    }
    fresh = [session_id for session_id in wanted if session_id not in queued]
    for session_id in fresh:
        submit_job(db, JOB_KIND, payload={"session_id": session_id})
    return fresh


def session_scheduled(db: Session, lectures: Iterable[LectureSession], config: Mapping[str, Any]) -> None:
    """A session was created or moved: it takes the sightings of its window that no session
    holds, and their unknown faces are listed (written in `db`'s transaction, not committed)."""
    for lecture in lectures:
        if attach_sightings(db, lecture, config):
            db.flush()
            sync_unknown_faces(db, lecture, compute_session(db, lecture, config))
            cluster_session(db, lecture, config)


@job_handler(JOB_KIND)
def refresh_job(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Refresh one session's derived rows (`{"session_id": 12}`); a deleted session is skipped."""
    session_id = payload.get("session_id")
    with ctx.session() as db:
        lecture = db.get(LectureSession, session_id) if isinstance(session_id, int) else None
        if lecture is None:
            return {"session_id": session_id, "refreshed": False}
        refresh_session(db, lecture, ctx.config)
    return {"session_id": session_id, "refreshed": True}
