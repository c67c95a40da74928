"""The JSON shapes of the enrolment API (a student's photos, a course's bulk import, enrolment summary
and gallery): one pydantic model per shape (`server.api.shapes`). Uploads are multipart forms, which
stay schema dicts in `api.py` (pydantic models describe JSON, not files)."""

from __future__ import annotations

from typing import Any, Literal

from flask import url_for
from pydantic import Field

from server.api.shapes import Instant, ResponseModel
from server.db.models import EnrolmentRejection as RejectionRow
from server.db.models import FaceTemplate
from server.db.models import Student as StudentRow
from server.enrolment.photos import Outcome


def _absent(value: Any) -> bool:
    return value is None


class Pose(ResponseModel):
    yaw: float
    pitch: float
    roll: float


class FaceQuality(ResponseModel):
    """The face gate's figures: shorter side of the face box in pixels, detector score, sharpness
    (variance of the Laplacian on the aligned face), head pose in degrees; empty for faces enrolled
    without the gate's figures."""

    face_px: float = Field(None, exclude_if=_absent)
    score: float = Field(None, exclude_if=_absent)
    sharpness: float = Field(None, exclude_if=_absent)
    pose: Pose = Field(None, exclude_if=_absent)
    background_faces: int = Field(None, exclude_if=_absent)
    image_px: list[int] = Field(None, exclude_if=_absent)


class EnrolmentPhoto(ResponseModel):
    """An accepted photo: its embedding is kept (not shown here), the photo is not."""

    id: int
    student_id: int
    filename: str | None
    sha256: str | None
    model: str
    dim: int
    purpose: str
    quality: FaceQuality
    warnings: list[str]
    thumbnail_url: str | None
    created_at: Instant

    @classmethod
    def of(cls, photo: FaceTemplate) -> EnrolmentPhoto:
        quality = dict(photo.quality or {})
        warnings = quality.pop("warnings", [])
        thumbnail = None
        if photo.thumbnail is not None:
            thumbnail = url_for("api.get_photo_thumbnail", student_id=photo.student_id, photo_id=photo.id)
        return cls(
            id=photo.id,
            student_id=photo.student_id,
            filename=photo.filename,
            sha256=photo.source_sha256,
            model=photo.model,
            dim=photo.dim,
            purpose=photo.purpose,
            quality=FaceQuality.model_validate(quality),
            warnings=warnings,
            thumbnail_url=thumbnail,
            created_at=photo.created_at,
        )


class EnrolmentRejection(ResponseModel):
    """A refused photo (only its name and the reason are kept)."""

    id: int
    filename: str
    reason: str
    quality: FaceQuality | None
    created_at: Instant

    @classmethod
    def of(cls, rejection: RejectionRow) -> EnrolmentRejection:
        return cls.model_validate(rejection)


class RefusedPhoto(ResponseModel):
    filename: str
    reason: str
    quality: FaceQuality | None

    @classmethod
    def of(cls, outcome: Outcome) -> RefusedPhoto:
        return cls(filename=outcome.filename, reason=outcome.reason, quality=outcome.quality)


class GalleryVersion(ResponseModel):
    course_id: int = Field(None, exclude_if=_absent)
    version: int
    sha256: str

    @classmethod
    def published(cls, galleries: dict[int, dict[str, Any]]) -> list[GalleryVersion]:
        """`gallery.publish`'s {course_id: {version, sha256}}, by course id."""
        return [cls(course_id=course_id, **version) for course_id, version in sorted(galleries.items())]


class StudentPhotos(ResponseModel):
    student_id: int
    student_number: str
    name: str
    email: str | None
    photos: list[EnrolmentPhoto]
    rejected: list[EnrolmentRejection] = Field(description="Recent refusals, newest first.")

    @classmethod
    def of(
        cls, student: StudentRow, photos: list[FaceTemplate], rejected: list[RejectionRow]
    ) -> StudentPhotos:
        return cls(
            student_id=student.id,
            student_number=student.student_number,
            name=student.name,
            email=student.email,
            photos=[EnrolmentPhoto.of(photo) for photo in photos],
            rejected=[EnrolmentRejection.of(row) for row in rejected],
        )


class PhotoUploadResult(ResponseModel):
    student_id: int
    accepted: list[EnrolmentPhoto]
    rejected: list[RefusedPhoto]
    photos: int = Field(description="The student's accepted photos now.")
    galleries: list[GalleryVersion]


class PhotoDeleteResult(ResponseModel):
    deleted: int
    photos: int
    galleries: list[GalleryVersion]


class ImportSummary(ResponseModel):
    students_in_csv: int
    students_created: int
    added_to_roster: int
    photos_accepted: int
    photos_rejected: int
    files_ignored: int


class ImportRow(ResponseModel):
    line: int
    student_number: str
    name: str
    student_id: int
    student: Literal["created", "existing"]
    roster: Literal["added", "already_enrolled"]
    photos_accepted: int
    photos_rejected: int
    notes: list[str]


class ImportFile(ResponseModel):
    file: str
    student_number: str | None
    status: Literal["accepted", "rejected", "ignored"]
    reason: str | None
    photo_id: int | None
    warnings: list[str]


class EnrolmentImportReport(ResponseModel):
    """Every CSV row was kept (created or found, put on the roster); every zip file is accepted,
    rejected (with the reason) or ignored (with the reason)."""

    course_id: int
    summary: ImportSummary
    rows: list[ImportRow]
    files: list[ImportFile]
    ignored_columns: list[str]
    gallery: GalleryVersion


class EnrolledStudent(ResponseModel):
    student_id: int
    student_number: str
    name: str
    photos: int


class CourseEnrolment(ResponseModel):
    course_id: int
    code: str
    title: str
    gallery: GalleryVersion
    students: list[EnrolledStudent]


class GalleryStudent(ResponseModel):
    student_id: int
    student_number: str
    embeddings: list[list[float]]
    template: list[float] | None


class CourseGallery(ResponseModel):
    """What a device needs to recognise the course's students offline. `sha256` covers the canonical
    JSON of everything but `version` and `sha256` (keys sorted, no whitespace, ASCII). Score a face as
    the highest cosine similarity over a student's `embeddings` and `template`; accept at `threshold`
    (the course's accepted calibrated one, else the deployment's); `unknown_threshold`, present with a
    course's accepted calibration: below it, not a student."""

    course_id: int
    version: int
    sha256: str
    model: str
    dim: int
    metric: str
    threshold: float
    unknown_threshold: float = Field(None, exclude_if=_absent)
    students: list[GalleryStudent]
