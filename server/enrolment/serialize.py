"""The JSON shapes of enrolment (also documented in the OpenAPI document, see `api`)."""

from __future__ import annotations

from typing import Any

from flask import url_for

from server.api.io import iso
from server.db.models import EnrolmentRejection, FaceTemplate, Student
from server.enrolment.photos import Outcome


def thumbnail_url(photo: FaceTemplate) -> str | None:
    if photo.thumbnail is None:
        return None
    return url_for("api.get_photo_thumbnail", student_id=photo.student_id, photo_id=photo.id)


def photo_json(photo: FaceTemplate) -> dict[str, Any]:
    quality = dict(photo.quality or {})
    warnings = quality.pop("warnings", [])
    return {
        "id": photo.id,
        "student_id": photo.student_id,
        "filename": photo.filename,
        "sha256": photo.source_sha256,
        "model": photo.model,
        "dim": photo.dim,
        "purpose": photo.purpose,
        "quality": quality,
        "warnings": warnings,
        "thumbnail_url": thumbnail_url(photo),
        "created_at": iso(photo.created_at),
    }


def rejection_json(rejection: EnrolmentRejection) -> dict[str, Any]:
    return {
        "id": rejection.id,
        "filename": rejection.filename,
        "reason": rejection.reason,
        "quality": rejection.quality,
        "created_at": iso(rejection.created_at),
    }


def refused_json(outcome: Outcome) -> dict[str, Any]:
    return {"filename": outcome.filename, "reason": outcome.reason, "quality": outcome.quality}


def student_json(student: Student) -> dict[str, Any]:
    return {
        "student_id": student.id,
        "student_number": student.student_number,
        "name": student.name,
        "email": student.email,
    }


def galleries_json(published: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"course_id": course_id, **version} for course_id, version in sorted(published.items())]
