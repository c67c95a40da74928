"""The operations the deepfake API and pages share: accept uploads as queued checks, find a user's
own checks, cancel or delete them (their JSON shape: `server.deepfake.schemas`).

An upload is judged on what can be judged at once (empty, too large, not an image or a video by its
magic bytes, an image whose header is unreadable or whose shape is outside `server.uploads.policy`):
those are refused in the response and never stored. Everything else becomes a check
and a `deepfake.score` job; what only decoding can tell (a truncated MP4, a video whose header
claims four hours) fails that job with a sentence the result page shows.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from flask import abort, current_app
from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models.deepfake import CheckStatus, DeepfakeCheck
from server.db.models.jobs import Job, JobStatus
from server.db.types import utcnow
from server.i18n import N_
from server.jobs import store as job_store
from server.jobs import submit_job
from server.settings import current_settings
from server.storage import storage
from server.uploads.files import Upload
from server.uploads.media_texts import media_text
from server.uploads.policy import over_limit, upload_shape
from shared.deepfake.video import sniff_bytes
from shared.media import MediaError, image_header

JOB_KIND = "deepfake.score"
EXTENSIONS = {"image": ".img", "video": ".vid"}


@dataclass(frozen=True)
class Refusal:
    filename: str
    reason: str
    status: int  # the HTTP status this refusal alone would get


def judge(upload: Upload) -> tuple[str | None, Refusal | None]:
    """The media kind of an upload, or why it is refused before anything is stored."""
    limit = current_settings().deepfake.max_file_bytes
    if not upload.data:
        empty = gettext("%(name)s: the file is empty (0 bytes).", name=upload.filename)
        return None, Refusal(upload.filename, empty, 400)
    if upload.full_size > limit:
        too_large = gettext(
            "%(name)s: %(size)s for one file.", name=upload.filename, size=over_limit(upload.full_size, limit)
        )
        return None, Refusal(upload.filename, too_large, 413)
    try:
        kind = sniff_bytes(upload.data[:64], upload.filename)
    except MediaError as error:
        return None, Refusal(upload.filename, media_text(str(error), upload.filename), 415)
    if kind == "image":
        try:  # the header only: the pixels are decoded by the job
            image_header(upload.data, upload.filename, upload_shape())
        except MediaError as error:
            return None, Refusal(upload.filename, media_text(str(error), upload.filename), 422)
    return kind, None


def submit_checks(
    session: Session, owner_id: int, uploads: list[Upload]
) -> tuple[list[DeepfakeCheck], list[Refusal]]:
    """Store the acceptable uploads and queue one job each (the caller commits)."""
    checks, refused = [], []
    store = storage(current_app._get_current_object())  # type: ignore[attr-defined]
    stored: list[str] = []
    try:
        for upload in uploads:
            kind, refusal = judge(upload)
            if refusal is not None:
                refused.append(refusal)
                continue
            assert kind is not None
            key = f"deepfake/{owner_id}/{uuid.uuid4().hex}{EXTENSIONS[kind]}"
            store.put(key, upload.data)
            stored.append(key)
            check = DeepfakeCheck(
                owner_id=owner_id,
                filename=upload.filename,
                media_kind=kind,
                size_bytes=len(upload.data),
                sha256=hashlib.sha256(upload.data).hexdigest(),
                storage_key=key,
                status=CheckStatus.QUEUED,
            )
            session.add(check)
            session.flush()
            job = submit_job(
                session, JOB_KIND, payload={"check_id": check.id}, owner_id=owner_id, max_attempts=2
            )
            check.job_id = job.id
            checks.append(check)
        session.flush()
    except Exception:
        for key in stored:  # nothing half-written: no stored upload without its check
            store.delete(key)
        raise
    return checks, refused


def refusal_status(refused: list[Refusal]) -> int:
    """One status for a request whose every file was refused: the most common reason's."""
    statuses = [r.status for r in refused]
    return max(set(statuses), key=statuses.count) if statuses else 400


def owned_check(session: Session, owner_id: int, check_id: int) -> DeepfakeCheck:
    """The user's own check, or 404 (another user's ids look exactly like unknown ones)."""
    check = session.get(DeepfakeCheck, check_id)
    if check is None or check.owner_id != owner_id:
        abort(404, gettext("No deepfake check %(id)s.", id=check_id))
    return check


def history(session: Session, owner_id: int, limit: int, before: int | None = None) -> list[DeepfakeCheck]:
    query = select(DeepfakeCheck).where(DeepfakeCheck.owner_id == owner_id)
    if before is not None:
        query = query.where(DeepfakeCheck.id < before)
    return list(session.scalars(query.order_by(DeepfakeCheck.id.desc()).limit(limit)))


def delete_check(session: Session, check: DeepfakeCheck) -> None:
    """Delete a check, its face crops and (if its job has not run yet) the stored upload."""
    key = check.storage_key
    session.delete(check)
    session.flush()
    if key:
        storage(current_app._get_current_object()).delete(key)  # type: ignore[attr-defined]


def cancel_check(session: Session, check: DeepfakeCheck) -> bool:
    """Cancel a queued or running check with its job (the caller commits); False when it has ended."""
    job = session.get(Job, check.job_id) if check.job_id is not None else None
    if status_of(check, job)[0] not in (CheckStatus.QUEUED, CheckStatus.RUNNING):
        return False
    if job is None:  # its job row is gone: nothing will run it
        _mark_cancelled(session, check, delete_upload=True)
        return True
    return job_store.cancel_job(session, job)  # job_cancelled() below marks the check


def job_cancelled(session: Session, job_id: int, started: bool) -> None:
    """`deepfake.score`'s on_cancel hook: the check follows its job, whichever API cancelled it.

    The upload is deleted here only when the job had not started; a running job's handler deletes
    it itself when its next progress report finds the job cancelled."""
    check = session.scalar(select(DeepfakeCheck).where(DeepfakeCheck.job_id == job_id))
    if check is not None and check.status in (CheckStatus.QUEUED, CheckStatus.RUNNING):
        _mark_cancelled(session, check, delete_upload=not started)


def _mark_cancelled(session: Session, check: DeepfakeCheck, delete_upload: bool) -> None:
    check.status = CheckStatus.CANCELLED
    check.error = None
    check.finished_at = utcnow()
    key = check.storage_key if delete_upload else None
    if key:
        check.storage_key = None
    session.flush()
    if key:
        storage(current_app._get_current_object()).delete(key)  # type: ignore[attr-defined]


def error_text(error: str | None, filename: str) -> str | None:
    """A failed check's error, kept in English (the job wrote it, shared/ decoding the file wrote
    most of it), in the request's language: shared/'s refusals through server/uploads/media_texts.py,
    the server's own marked sentences through the catalogue, anything else as stored."""
    if not error:
        return error
    text = media_text(error, filename)
    return gettext(error) if text == error else text


def status_of(check: DeepfakeCheck, job: Job | None) -> tuple[str, str | None]:
    """(status, error) as users see them: the job's word counts while the check is not final, so
    a job that failed outside its handler (its worker died on the last attempt) never looks stuck."""
    if check.status in (CheckStatus.DONE, CheckStatus.FAILED, CheckStatus.CANCELLED):
        return check.status.value, check.error
    if job is not None and job.status == JobStatus.FAILED:
        return "failed", job.error or N_("The check stopped unexpectedly.")
    if job is not None and job.status == JobStatus.CANCELLED:
        return "cancelled", None
    if job is not None and job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
        return job.status.value, None  # queued again after a worker died, or running
    return check.status.value, None
