"""The `deepfake.score` job: score one uploaded file, store the result, delete the upload.

Every way out records an outcome on the check: a result, or a failure with a sentence the user can
read (a media problem says what is wrong with the file; anything else says the server failed). The
exception is then re-raised so the job row fails too; nothing is left 'running'. The upload is
deleted when the handler ends, whatever the outcome (it is kept only while a worker that died may
still retry the job).

The kind is cancellable: a check cancelled before its job started is settled by
`service.job_cancelled`; one cancelled while running stops at its next progress report
(`JobCancelled`), is marked cancelled rather than failed, loses its upload, and the exception goes
on to the runner, which ends the job without recording a failure.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import cv2

from server.db.models.deepfake import CheckStatus, DeepfakeCheck, DeepfakeFace
from server.db.types import utcnow
from server.deepfake.engine import pipeline
from server.deepfake.service import JOB_KIND, job_cancelled
from server.i18n import N_
from server.jobs import JobCancelled, JobContext, job_handler
from server.storage import StorageMissing, storage
from shared.deepfake.pipeline import CheckResult
from shared.media import MediaError
from shared.model_registry import ModelError

JPEG_QUALITY = 88


@job_handler(JOB_KIND, cancellable=True, on_cancel=job_cancelled)
def score_check(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any] | None:
    check_id = int(payload["check_id"])
    with ctx.session() as session:
        check = session.get(DeepfakeCheck, check_id)
        if check is None:
            return {"check_id": check_id, "skipped": "the check was deleted before it ran"}
        key, filename = check.storage_key, check.filename
        cancelled = check.status == CheckStatus.CANCELLED  # just as this worker claimed the job
        if not cancelled:
            check.status = CheckStatus.RUNNING
            session.commit()
    store = storage(ctx.app)
    try:
        if cancelled:
            raise JobCancelled(f"check {check_id} was cancelled")
        if not key:
            raise MediaError(f"{filename}: the upload is no longer stored; upload the file again.")
        try:
            data = store.get(key)
        except StorageMissing:
            raise MediaError(f"{filename}: the upload is no longer stored; upload the file again.") from None
        with tempfile.TemporaryDirectory(prefix="visage-deepfake-") as folder:
            path = Path(folder) / safe_name(filename)
            path.write_bytes(data)
            del data
            result = pipeline(ctx.app).score(path, progress=ctx.progress)
    except JobCancelled:
        _cancel(ctx, check_id)
        _forget_upload(ctx, check_id, key)
        raise
    except (MediaError, ModelError) as error:
        if ctx.cancelled():  # the upload went with a cancel that came as the job started
            _cancel(ctx, check_id)
            _forget_upload(ctx, check_id, key)
            raise JobCancelled(f"check {check_id} was cancelled") from error
        # Decoding names the temporary file; the user knows the file by the name they uploaded.
        _fail(ctx, check_id, str(error).replace(safe_name(filename), filename))
        _forget_upload(ctx, check_id, key)
        raise
    except Exception:
        _fail(
            ctx,
            check_id,
            N_("The server could not score this file (an internal error, logged for the operator)."),
        )
        _forget_upload(ctx, check_id, key)
        raise
    _save(ctx, check_id, result)
    _forget_upload(ctx, check_id, key)
    return {"check_id": check_id, "probability": result.probability, "verdict": result.verdict}


def safe_name(filename: str) -> str:
    """A plain file name for the temporary copy (no separators, no leading dot, not '.' or '..')."""
    return re.sub(r"[^\w.\- ]", "_", filename).lstrip(".")[:200] or "upload"


def _save(ctx: JobContext, check_id: int, result: CheckResult) -> None:
    with ctx.session() as session:
        check = session.get(DeepfakeCheck, check_id)
        if check is None or check.status == CheckStatus.CANCELLED:  # deleted or cancelled while it ran
            return
        check.status = CheckStatus.DONE
        check.error = None
        check.probability = result.probability
        check.verdict = result.verdict
        check.result = result.to_dict()
        check.finished_at = utcnow()
        check.faces.clear()
        for ordinal, face in enumerate(result.top_faces, start=1):
            ok, jpeg = cv2.imencode(".jpg", face.crop[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if not ok:
                raise RuntimeError("could not encode a face crop as JPEG")
            x1, y1, x2, y2 = (round(float(v), 1) for v in face.box)
            check.faces.append(
                DeepfakeFace(
                    ordinal=ordinal,
                    frame=face.frame,
                    time_s=face.time_s,
                    score=face.score,
                    box={"x1": x1, "y1": y1, "x2": x2, "y2": y2},
                    jpeg=jpeg.tobytes(),
                )
            )
        session.commit()


def _fail(ctx: JobContext, check_id: int, message: str) -> None:
    with ctx.session() as session:
        check = session.get(DeepfakeCheck, check_id)
        if check is not None and check.status != CheckStatus.CANCELLED:
            check.status = CheckStatus.FAILED
            check.error = message
            check.finished_at = utcnow()
            session.commit()


def _cancel(ctx: JobContext, check_id: int) -> None:
    with ctx.session() as session:
        check = session.get(DeepfakeCheck, check_id)
        if check is not None and check.status in (CheckStatus.QUEUED, CheckStatus.RUNNING):
            check.status = CheckStatus.CANCELLED
            check.error = None
            check.finished_at = utcnow()
            session.commit()


def _forget_upload(ctx: JobContext, check_id: int, key: str | None) -> None:
    if key:
        storage(ctx.app).delete(key)
    with ctx.session() as session:
        check = session.get(DeepfakeCheck, check_id)
        if check is not None and check.storage_key:
            check.storage_key = None
            session.commit()
