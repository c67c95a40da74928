"""Retention of biometric and diagnostic data: the `ops.retention` job deletes what is older than
the configured periods (days; empty or 0 keeps it for ever: server/settings/retention.py). Run it
daily: `visage server retention` (deploy/systemd/visage-retention.timer does), which records the run as a job.

What each setting covers (and why it defaults to what it does) is in docs/operations.md; the
rules themselves are the `@retention_rule` functions below. Rows are removed in batches of
`RETENTION_BATCH` per transaction so that a first run over a year of data never holds long locks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from server.db.enums import SessionStatus
from server.db.models import DeviceTelemetry, Job, JobStatus, LectureSession, RejectedMessage, Sighting
from server.db.types import utcnow
from server.jobs import JobContext, job_handler
from server.settings import settings_of
from server.settings.retention import RetentionSettings

JOB_KIND = "ops.retention"


@dataclass(frozen=True)
class Rule:
    key: str  # the setting, e.g. RETENTION_TELEMETRY_DAYS (a field of RetentionSettings: its default)
    what: str
    apply: Callable[[Flask, Session, datetime, bool, int], int]  # (app, session, cutoff, dry_run, batch)


RULES: list[Rule] = []


def retention_rule(key: str, what: str):
    """Register a rule; it returns how many rows it removed (or would remove, when `dry_run`)."""

    def decorator(apply: Callable[[Flask, Session, datetime, bool, int], int]):
        RULES.append(Rule(key, what, apply))
        return apply

    return decorator


def _batched(
    session: Session,
    id_column: InstrumentedAttribute,
    where: list[ColumnElement[bool]],
    act: Callable[[list[Any]], None],
    dry_run: bool,
    batch: int,
) -> int:
    """Count (dry run) or act on the matching rows `batch` ids at a time, committing each batch."""
    if dry_run:
        return int(session.scalar(select(func.count()).select_from(id_column.class_).where(*where)) or 0)
    total = 0
    while True:
        ids = list(session.scalars(select(id_column).where(*where).order_by(id_column).limit(batch)))
        if not ids:
            return total
        act(ids)
        session.commit()
        total += len(ids)


def _delete_rows(model: Any, session: Session, where: list, dry_run: bool, batch: int) -> int:
    def act(ids: list[Any]) -> None:
        session.execute(delete(model).where(model.id.in_(ids)))

    return _batched(session, model.id, where, act, dry_run, batch)


def _clear_faces(session: Session, ids: list[int]) -> None:
    """Delete the face crop and the embedding of these sightings (the sightings themselves stay)."""
    cleared = {"thumbnail": None, "embedding": None, "embedding_model": None}
    session.execute(update(Sighting).where(Sighting.id.in_(ids)).values(**cleared))


@retention_rule(
    "RETENTION_SIGHTING_THUMBNAIL_DAYS",
    "face crops and unknown faces' embeddings on sightings (the sighting itself stays: attendance is"
    " computed from it)",
)
def sighting_thumbnails(app: Flask, session: Session, cutoff: datetime, dry_run: bool, batch: int) -> int:
    faces = (Sighting.thumbnail.is_not(None)) | (Sighting.embedding.is_not(None))
    where = [faces, Sighting.received_at < cutoff]
    return _batched(session, Sighting.id, where, lambda ids: _clear_faces(session, ids), dry_run, batch)


@retention_rule(
    "RETENTION_UNKNOWN_CROPS_DAYS",
    "face crops and embeddings of unknown faces, counted from the confirmation of their session (the"
    " instructor has decided who they were)",
)
def unknown_faces(app: Flask, session: Session, cutoff: datetime, dry_run: bool, batch: int) -> int:
    confirmed = select(LectureSession.id).where(
        LectureSession.status == SessionStatus.CONFIRMED, LectureSession.confirmed_at < cutoff
    )
    # Unknown when captured: still unlabelled, or assigned in the review since (a device sends an
    # embedding with unknown faces only, and assigning re-labels the sightings, keeping it).
    where = [
        Sighting.student_id.is_(None) | Sighting.embedding.is_not(None),
        Sighting.session_id.in_(confirmed),
        (Sighting.thumbnail.is_not(None)) | (Sighting.embedding.is_not(None)),
    ]
    return _batched(session, Sighting.id, where, lambda ids: _clear_faces(session, ids), dry_run, batch)


@retention_rule("RETENTION_SIGHTINGS_DAYS", "sightings themselves (attendance evidence; kept by default)")
def sightings(app: Flask, session: Session, cutoff: datetime, dry_run: bool, batch: int) -> int:
    return _delete_rows(Sighting, session, [Sighting.received_at < cutoff], dry_run, batch)


@retention_rule("RETENTION_TELEMETRY_DAYS", "device telemetry reports")
def telemetry(app: Flask, session: Session, cutoff: datetime, dry_run: bool, batch: int) -> int:
    return _delete_rows(DeviceTelemetry, session, [DeviceTelemetry.received_at < cutoff], dry_run, batch)


@retention_rule(
    "RETENTION_REJECTED_MESSAGES_DAYS",
    "refused MQTT messages (their first KiB may hold a face thumbnail)",
)
def rejected_messages(app: Flask, session: Session, cutoff: datetime, dry_run: bool, batch: int) -> int:
    return _delete_rows(RejectedMessage, session, [RejectedMessage.received_at < cutoff], dry_run, batch)


@retention_rule("RETENTION_JOBS_DAYS", "finished background jobs (status, result, error)")
def finished_jobs(app: Flask, session: Session, cutoff: datetime, dry_run: bool, batch: int) -> int:
    ended = [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED]
    where = [Job.status.in_(ended), Job.finished_at < cutoff]
    return _delete_rows(Job, session, where, dry_run, batch)


@retention_rule(
    "RETENTION_ALBUM_SEARCHES_DAYS", "album key-photo searches (the key's small JPEG and face embeddings)"
)
def album_searches(app: Flask, session: Session, cutoff: datetime, dry_run: bool, batch: int) -> int:
    from server.db.models.album import AlbumSearch

    return _delete_rows(AlbumSearch, session, [AlbumSearch.created_at < cutoff], dry_run, batch)


@retention_rule(
    "RETENTION_DEEPFAKE_CHECKS_DAYS", "deepfake checks: the upload, the face crops and the verdict"
)
def deepfake_checks(app: Flask, session: Session, cutoff: datetime, dry_run: bool, batch: int) -> int:
    from server.db.models.deepfake import DeepfakeCheck
    from server.storage import storage

    where = [DeepfakeCheck.created_at < cutoff]
    # Uploads still waiting for their job are not old enough to matter; never delete under a job.
    where.append(DeepfakeCheck.finished_at.is_not(None))
    if dry_run:
        return _delete_rows(DeepfakeCheck, session, where, True, batch)
    total = 0
    while True:
        rows = session.execute(
            select(DeepfakeCheck.id, DeepfakeCheck.storage_key)
            .where(*where)
            .order_by(DeepfakeCheck.id)
            .limit(batch)
        ).all()
        if not rows:
            return total
        session.execute(delete(DeepfakeCheck).where(DeepfakeCheck.id.in_([row.id for row in rows])))
        session.commit()
        store = storage(app)
        for row in rows:
            if row.storage_key:
                store.delete(row.storage_key)  # after the commit: a failed delete leaves a file, not a row
        total += len(rows)


def periods(settings: RetentionSettings) -> dict[str, int | None]:
    """Each rule's period in days (None: keep for ever)."""
    return {rule.key: settings.days(rule.key) for rule in RULES}


# Not cancellable: it is scheduled, deletes in committed batches and simply runs again next time, so
# stopping one run part-way would gain nothing.
@job_handler(JOB_KIND, cancellable=False)
def enforce(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Apply every rule whose period is set; `{"dry_run": true}` only counts."""
    dry_run = bool(payload.get("dry_run"))
    retention = settings_of(ctx.app).retention
    settings = periods(retention)
    batch = retention.batch
    now = utcnow()
    removed: dict[str, int] = {}
    for index, rule in enumerate(RULES):
        days = settings[rule.key]
        ctx.progress(index, len(RULES), message=f"{rule.key}: {'kept' if days is None else f'{days} days'}")
        if days is None:
            continue
        with ctx.session() as session:
            removed[rule.key] = rule.apply(ctx.app, session, now - timedelta(days=days), dry_run, batch)
    ctx.progress(len(RULES), len(RULES), message="dry run" if dry_run else "done")
    return {"dry_run": dry_run, "at": now.isoformat(), "periods_days": settings, "removed": removed}
