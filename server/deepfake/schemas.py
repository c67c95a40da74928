"""The JSON shapes of the deepfake API: one pydantic model per shape, which serialises the answer and
is the OpenAPI component of the same name (`server.api.shapes`). The result page renders the same
dictionaries (`DeepfakeCheck.of(...).model_dump(mode="json")`), so page and API never disagree."""

from __future__ import annotations

from typing import Any, Literal

from flask import url_for
from pydantic import MISSING, Field
from sqlalchemy.orm import Session

from server.api.shapes import Instant, ResponseModel
from server.db.models.deepfake import DeepfakeCheck as CheckRow
from server.db.models.jobs import Job
from server.deepfake.service import Refusal, error_text, status_of
from shared.deepfake.pipeline import NOTE, VERDICTS

Verdict = Literal["likely_real", "uncertain", "likely_fake", "no_face"]


class DeepfakeProgress(ResponseModel):
    done: int
    total: int | None
    message: str | None


class DeepfakeFace(ResponseModel):
    """A face crop that drove the score (ordinal 1 scored highest)."""

    ordinal: int
    frame: int
    time_s: float
    score: float
    box: dict[str, Any]
    image_url: str


class DeepfakeCheck(ResponseModel):
    """One uploaded file and, once its job ran, how likely it is to be a deepfake. `probability` is
    P(fake) from the model; `verdict` is likely_real (< 0.3), uncertain, likely_fake (>= 0.7) or
    no_face. It is a probability, not a proof: read `note`. Lists leave out `note`, `result` and
    `faces` (the per-frame details)."""

    id: int
    filename: str
    media_kind: Literal["image", "video"]
    size_bytes: int
    sha256: str
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    error: str | None
    job_id: int | None
    progress: DeepfakeProgress
    probability: float | None
    verdict: Verdict | None
    verdict_label: str | None
    note: str | MISSING = MISSING
    created_at: Instant
    finished_at: Instant | None
    url: str = Field(description="The result page.")
    result: dict[str, Any] | MISSING | None = Field(
        MISSING,
        description="Details: media (size, fps, duration, rotation), frames_sampled, frames_with_faces, "
        "faces_scored, timeline (per sampled frame: frame, time_s, faces, score or null without a face), "
        "top_faces, model (name, version, sha256), aggregation.",
    )
    faces: list[DeepfakeFace] | MISSING = MISSING

    @classmethod
    def of(cls, session: Session, check: CheckRow, full: bool = True) -> DeepfakeCheck:
        """The check as its owner sees it: the job's status counts while the check is not final."""
        job = session.get(Job, check.job_id) if check.job_id is not None else None
        status, error = status_of(check, job)
        shape = cls(
            id=check.id,
            filename=check.filename,
            media_kind=check.media_kind,
            size_bytes=check.size_bytes,
            sha256=check.sha256,
            status=status,
            error=error_text(error, check.filename),
            job_id=check.job_id,
            progress=DeepfakeProgress(
                done=job.progress_done if job else 0,
                total=job.progress_total if job else None,
                message=job.message if job else None,
            ),
            probability=check.probability,
            verdict=check.verdict,
            verdict_label=VERDICTS.get(check.verdict or "", None),
            created_at=check.created_at,
            finished_at=check.finished_at,
            url=url_for("deepfake.result", check_id=check.id),
        )
        if full:
            shape.note = (check.result or {}).get("note", NOTE)
            shape.result = check.result
            shape.faces = [
                DeepfakeFace(
                    ordinal=face.ordinal,
                    frame=face.frame,
                    time_s=face.time_s,
                    score=face.score,
                    box=face.box,
                    image_url=url_for("api.deepfake_face_image", check_id=check.id, ordinal=face.ordinal),
                )
                for face in check.faces
            ]
        return shape

    def page(self) -> dict[str, Any]:
        """As the pages' templates read it (the same JSON the API answers)."""
        return self.model_dump(mode="json")


class DeepfakeRefusedFile(ResponseModel):
    filename: str
    reason: str

    @classmethod
    def of(cls, refusal: Refusal) -> DeepfakeRefusedFile:
        return cls(filename=refusal.filename, reason=refusal.reason)


class DeepfakeSubmission(ResponseModel):
    checks: list[DeepfakeCheck]
    refused: list[DeepfakeRefusedFile]


class DeepfakeHistory(ResponseModel):
    checks: list[DeepfakeCheck]
    next_before: int | None = Field(description="Pass as `before` for the next page.")


class DeepfakeDeleted(ResponseModel):
    deleted: int
