"""Enrolment endpoints of /api/v1: a student's photos, a course's bulk import, enrolment summary and
gallery. Uploads are multipart/form-data (documented in each operation's description)."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, jsonify, request
from flask_login import current_user

from server.api.endpoints import FILE, FILES, api_route, registry
from server.api.io import DATETIME, error_response
from server.db import db_session
from server.db.enums import Role
from server.enrolment import access, photos, service
from server.enrolment.errors import EnrolmentError
from server.enrolment.serialize import galleries_json, photo_json, refused_json, rejection_json, student_json
from server.settings import current_settings
from server.uploads.files import files_in_request
from server.uploads.limits import limit

TAGS = ["enrolment"]
INSTRUCTOR = [Role.INSTRUCTOR]
NUMBER = {"type": "number"}
VECTOR = {"type": "array", "items": NUMBER}

QUALITY = registry.schema(
    "FaceQuality",
    {
        "type": "object",
        "description": "The face gate's figures: shorter side of the face box in pixels, detector score, "
        "sharpness (variance of the Laplacian on the aligned face), head pose in degrees.",
        "properties": {
            "face_px": NUMBER,
            "score": NUMBER,
            "sharpness": NUMBER,
            "pose": {"type": "object", "properties": {"yaw": NUMBER, "pitch": NUMBER, "roll": NUMBER}},
            "background_faces": {"type": "integer"},
            "image_px": {"type": "array", "items": {"type": "integer"}},
        },
    },
)
PHOTO = registry.schema(
    "EnrolmentPhoto",
    {
        "type": "object",
        "description": "An accepted photo: its embedding is kept (not shown here), the photo is not.",
        "properties": {
            "id": {"type": "integer"},
            "student_id": {"type": "integer"},
            "filename": {"type": ["string", "null"]},
            "sha256": {"type": ["string", "null"]},
            "model": {"type": "string"},
            "dim": {"type": "integer"},
            "purpose": {"type": "string"},
            "quality": QUALITY,
            "warnings": {"type": "array", "items": {"type": "string"}},
            "thumbnail_url": {"type": ["string", "null"]},
            "created_at": DATETIME,
        },
        "required": ["id", "student_id", "model", "dim", "quality", "warnings", "created_at"],
    },
)
REJECTION = registry.schema(
    "EnrolmentRejection",
    {
        "type": "object",
        "description": "A refused photo (only its name and the reason are kept).",
        "properties": {
            "id": {"type": "integer"},
            "filename": {"type": "string"},
            "reason": {"type": "string"},
            "quality": {"oneOf": [QUALITY, {"type": "null"}]},
            "created_at": DATETIME,
        },
        "required": ["id", "filename", "reason", "created_at"],
    },
)
REFUSED = registry.schema(
    "RefusedPhoto",
    {
        "type": "object",
        "properties": {
            "filename": {"type": "string"},
            "reason": {"type": "string"},
            "quality": {"oneOf": [QUALITY, {"type": "null"}]},
        },
        "required": ["filename", "reason"],
    },
)
GALLERY_VERSION = registry.schema(
    "GalleryVersion",
    {
        "type": "object",
        "properties": {
            "course_id": {"type": "integer"},
            "version": {"type": "integer"},
            "sha256": {"type": "string"},
        },
        "required": ["version", "sha256"],
    },
)
STUDENT_PHOTOS = registry.schema(
    "StudentPhotos",
    {
        "type": "object",
        "properties": {
            "student_id": {"type": "integer"},
            "student_number": {"type": "string"},
            "name": {"type": "string"},
            "email": {"type": ["string", "null"]},
            "photos": {"type": "array", "items": PHOTO},
            "rejected": {
                "type": "array",
                "items": REJECTION,
                "description": "Recent refusals, newest first.",
            },
        },
        "required": ["student_id", "student_number", "name", "photos", "rejected"],
    },
)
UPLOAD_RESULT = registry.schema(
    "PhotoUploadResult",
    {
        "type": "object",
        "properties": {
            "student_id": {"type": "integer"},
            "accepted": {"type": "array", "items": PHOTO},
            "rejected": {"type": "array", "items": REFUSED},
            "photos": {"type": "integer", "description": "The student's accepted photos now."},
            "galleries": {"type": "array", "items": GALLERY_VERSION},
        },
        "required": ["student_id", "accepted", "rejected", "photos", "galleries"],
    },
)
DELETE_RESULT = registry.schema(
    "PhotoDeleteResult",
    {
        "type": "object",
        "properties": {
            "deleted": {"type": "integer"},
            "photos": {"type": "integer"},
            "galleries": {"type": "array", "items": GALLERY_VERSION},
        },
        "required": ["deleted", "photos", "galleries"],
    },
)
IMPORT_REPORT = registry.schema(
    "EnrolmentImportReport",
    {
        "type": "object",
        "description": "Every CSV row was kept (created or found, put on the roster); every zip file is "
        "accepted, rejected (with the reason) or ignored (with the reason).",
        "properties": {
            "course_id": {"type": "integer"},
            "summary": {
                "type": "object",
                "properties": {
                    key: {"type": "integer"}
                    for key in (
                        "students_in_csv",
                        "students_created",
                        "added_to_roster",
                        "photos_accepted",
                        "photos_rejected",
                        "files_ignored",
                    )
                },
            },
            "rows": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "line": {"type": "integer"},
                        "student_number": {"type": "string"},
                        "name": {"type": "string"},
                        "student_id": {"type": "integer"},
                        "student": {"type": "string", "enum": ["created", "existing"]},
                        "roster": {"type": "string", "enum": ["added", "already_enrolled"]},
                        "photos_accepted": {"type": "integer"},
                        "photos_rejected": {"type": "integer"},
                        "notes": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
            "files": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "file": {"type": "string"},
                        "student_number": {"type": ["string", "null"]},
                        "status": {"type": "string", "enum": ["accepted", "rejected", "ignored"]},
                        "reason": {"type": ["string", "null"]},
                        "photo_id": {"type": ["integer", "null"]},
                        "warnings": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
            "ignored_columns": {"type": "array", "items": {"type": "string"}},
            "gallery": GALLERY_VERSION,
        },
        "required": ["course_id", "summary", "rows", "files", "gallery"],
    },
)
COURSE_ENROLMENT = registry.schema(
    "CourseEnrolment",
    {
        "type": "object",
        "properties": {
            "course_id": {"type": "integer"},
            "code": {"type": "string"},
            "title": {"type": "string"},
            "gallery": GALLERY_VERSION,
            "students": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "student_id": {"type": "integer"},
                        "student_number": {"type": "string"},
                        "name": {"type": "string"},
                        "photos": {"type": "integer"},
                    },
                },
            },
        },
        "required": ["course_id", "gallery", "students"],
    },
)
GALLERY = registry.schema(
    "CourseGallery",
    {
        "type": "object",
        "description": "What a device needs to recognise the course's students offline. `sha256` covers the "
        "canonical JSON of everything but `version` and `sha256` (keys sorted, no whitespace, ASCII). "
        "Score a face as the highest cosine similarity over a student's `embeddings` and `template`; "
        "accept at `threshold` (the course's accepted calibrated one, else the deployment's); "
        "`unknown_threshold`, present with a course's accepted calibration: below it, not a student.",
        "properties": {
            "course_id": {"type": "integer"},
            "version": {"type": "integer"},
            "sha256": {"type": "string"},
            "model": {"type": "string"},
            "dim": {"type": "integer"},
            "metric": {"type": "string"},
            "threshold": NUMBER,
            "unknown_threshold": NUMBER,
            "students": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "student_id": {"type": "integer"},
                        "student_number": {"type": "string"},
                        "embeddings": {"type": "array", "items": VECTOR},
                        "template": {"oneOf": [VECTOR, {"type": "null"}]},
                    },
                    "required": ["student_id", "student_number", "embeddings", "template"],
                },
            },
        },
        "required": ["course_id", "version", "sha256", "model", "metric", "threshold", "students"],
    },
)


def require_multipart() -> None:
    if request.mimetype != "multipart/form-data":
        abort(415, "send the files as multipart/form-data")


@api_route(
    "/students/<int:student_id>/photos",
    "GET",
    roles=INSTRUCTOR,
    response=STUDENT_PHOTOS,
    errors=[404],
    tags=TAGS,
)
def list_student_photos(student_id: int) -> dict[str, Any]:
    """A student's accepted enrolment photos (quality figures, no embeddings) and recent refusals."""
    student = access.student_for(db_session, current_user, student_id)
    return {
        **student_json(student),
        "photos": [photo_json(photo) for photo in photos.photos_of(db_session, student.id)],
        "rejected": [rejection_json(row) for row in photos.recent_rejections(db_session, student.id)],
    }


@api_route(
    "/students/<int:student_id>/photos",
    "POST",
    roles=INSTRUCTOR,
    form={
        "type": "object",
        "description": "Image files in any field (`photos` by convention), repeatable.",
        "properties": {"photos": FILES},
        "additionalProperties": FILES,
        "minProperties": 1,
    },
    response=UPLOAD_RESULT,
    status=201,
    errors=[400, 404, 413, 415, 422, 503],
    tags=TAGS,
)
def upload_student_photos(student_id: int) -> tuple[dict[str, Any], int] | Response:
    """Enrol photos of a student (multipart/form-data, one or more image files in any field).

    Each photo passes the strict face gate: exactly one face, large, sharp, frontal enough. Accepted
    photos give embeddings; the student's galleries get a new version. Refused photos are listed with
    the reason. 201 when at least one photo was accepted, 422 (with the same lists) when none was."""
    student = access.student_for(db_session, current_user, student_id)
    require_multipart()
    uploads = files_in_request(cap=current_settings().enrolment.max_photo_bytes)
    result = service.upload_photos(db_session, student, uploads, current_user)
    body = {
        "student_id": student.id,
        "accepted": [photo_json(outcome.photo) for outcome in result.accepted if outcome.photo is not None],
        "rejected": [refused_json(outcome) for outcome in result.rejected],
        "photos": len(photos.photos_of(db_session, student.id)),
        "galleries": galleries_json(result.galleries),
    }
    db_session.commit()
    if not result.accepted:
        reasons = "; ".join(f"{outcome.filename}: {outcome.reason}" for outcome in result.rejected)
        return error_response(422, f"no photo was accepted ({reasons})", **body)
    return body, 201


limit("api.upload_student_photos", "ENROLMENT_MAX_UPLOAD_BYTES", "one upload of photos")


@api_route(
    "/students/<int:student_id>/photos/<int:photo_id>",
    "DELETE",
    roles=INSTRUCTOR,
    response=DELETE_RESULT,
    errors=[404],
    tags=TAGS,
)
def delete_student_photo(student_id: int, photo_id: int) -> dict[str, Any]:
    """Delete an enrolment photo (its embedding and thumbnail); the student's galleries get a new version."""
    student, photo = access.photo_for(db_session, current_user, student_id, photo_id)
    published = service.delete_photo(db_session, photo, current_user)
    remaining = len(photos.photos_of(db_session, student.id))
    db_session.commit()
    return {"deleted": photo_id, "photos": remaining, "galleries": galleries_json(published)}


@api_route(
    "/students/<int:student_id>/photos/<int:photo_id>/thumbnail",
    "GET",
    roles=INSTRUCTOR,
    errors=[404],
    tags=TAGS,
)
def get_photo_thumbnail(student_id: int, photo_id: int) -> Response:
    """The small JPEG of the aligned face kept for an accepted photo (404 when thumbnails are off)."""
    _student, photo = access.photo_for(db_session, current_user, student_id, photo_id)
    if photo.thumbnail is None:
        abort(404, f"photo {photo_id} has no thumbnail")
    response = Response(photo.thumbnail, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@api_route(
    "/courses/<int:course_id>/enrolment",
    "GET",
    roles=INSTRUCTOR,
    response=COURSE_ENROLMENT,
    errors=[404],
    tags=TAGS,
)
def get_course_enrolment(course_id: int) -> dict[str, Any]:
    """The course's roster with each student's number of accepted photos, and its gallery version."""
    course = access.course_for(db_session, current_user, course_id)
    current = service.course_gallery(db_session, course)
    lines = service.roster_with_counts(db_session, course)
    db_session.commit()
    return {
        "course_id": course.id,
        "code": course.code,
        "title": course.title,
        "gallery": {"course_id": course.id, "version": current["version"], "sha256": current["sha256"]},
        "students": [
            {
                "student_id": line.student.id,
                "student_number": line.student.student_number,
                "name": line.student.name,
                "photos": line.photos,
            }
            for line in lines
        ],
    }


@api_route(
    "/courses/<int:course_id>/enrolment/import",
    "POST",
    roles=INSTRUCTOR,
    form={
        "type": "object",
        "properties": {
            "students": {**FILE, "contentMediaType": "text/csv", "description": "The students CSV."},
            "photos": {**FILE, "contentMediaType": "application/zip", "description": "The zip of photos."},
        },
        "anyOf": [{"required": ["students"]}, {"required": ["photos"]}],
    },
    response=IMPORT_REPORT,
    errors=[400, 404, 409, 413, 415, 503],
    tags=TAGS,
)
def import_course_enrolment(course_id: int) -> dict[str, Any]:
    """Bulk enrolment: a students CSV and/or a zip of photos named by student number, into a course.

    multipart/form-data with `students` (CSV: header `student_number,name[,email]`, UTF-8 with or
    without BOM) and/or `photos` (zip: `<student_number>.jpg`, `<student_number>_<n>.jpg` or
    `<student_number>/<anything>.jpg`). A malformed CSV or a bad zip (path traversal, symlinks, zip
    bomb, too many members) is refused as a whole with 400/413 and nothing is written. Otherwise every
    row is kept and the report says for each zip file whether it was accepted, rejected or ignored, why."""
    course = access.course_for(db_session, current_user, course_id)
    require_multipart()
    csv_files = files_in_request(("students",))
    zip_files = files_in_request(("photos",))
    if len(csv_files) > 1 or len(zip_files) > 1:
        raise EnrolmentError("send one students CSV and one zip of photos at most")
    report = service.import_enrolment(
        db_session,
        course,
        csv_files[0].data if csv_files else None,
        zip_files[0].data if zip_files else None,
        current_user,
    )
    db_session.commit()
    return report


limit("api.import_course_enrolment", "ENROLMENT_MAX_IMPORT_BYTES", "a bulk import")


@api_route(
    "/courses/<int:course_id>/gallery", "GET", roles=INSTRUCTOR, response=GALLERY, errors=[404], tags=TAGS
)
def get_course_gallery(course_id: int) -> Response:
    """The course's gallery for devices: enrolled embeddings by student, versioned, with its sha256.

    The ETag is the sha256: a device that sends `If-None-Match` with the gallery it holds gets 304
    (nothing to download) while the content is unchanged."""
    course = access.course_for(db_session, current_user, course_id)
    current = service.course_gallery(db_session, course)
    db_session.commit()
    response = jsonify(current)
    response.set_etag(current["sha256"])
    response.headers["Cache-Control"] = "private, no-cache"
    return response.make_conditional(request)
