"""Enrolment endpoints of /api/v1: a student's photos, a course's bulk import, enrolment summary and
gallery. Uploads are multipart/form-data (documented in each operation's description)."""

from __future__ import annotations

from flask import Response, abort, jsonify, request
from flask_babel import gettext
from flask_login import current_user

from server.api.endpoints import FILE, FILES, api_route
from server.api.io import error_response
from server.db import db_session
from server.db.enums import Role
from server.enrolment import access, photos, service
from server.enrolment.errors import EnrolmentError
from server.enrolment.schemas import (
    CourseEnrolment,
    CourseGallery,
    EnrolledStudent,
    EnrolmentImportReport,
    EnrolmentPhoto,
    GalleryVersion,
    PhotoDeleteResult,
    PhotoUploadResult,
    RefusedPhoto,
    StudentPhotos,
)
from server.settings import current_settings
from server.uploads.files import files_in_request
from server.uploads.limits import limit
from server.uploads.reasons import reason_text

TAGS = ["enrolment"]
INSTRUCTOR = [Role.INSTRUCTOR]


def require_multipart() -> None:
    if request.mimetype != "multipart/form-data":
        abort(415, "send the files as multipart/form-data")


@api_route(
    "/students/<int:student_id>/photos",
    "GET",
    roles=INSTRUCTOR,
    response=StudentPhotos,
    errors=[404],
    tags=TAGS,
)
def list_student_photos(student_id: int) -> StudentPhotos:
    """A student's accepted enrolment photos (quality figures, no embeddings) and recent refusals."""
    student = access.student_for(db_session, current_user, student_id)
    return StudentPhotos.of(
        student,
        photos.photos_of(db_session, student.id),
        photos.recent_rejections(db_session, student.id),
    )


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
    response=PhotoUploadResult,
    status=201,
    errors=[400, 404, 413, 415, 422, 503],
    tags=TAGS,
)
def upload_student_photos(student_id: int) -> tuple[PhotoUploadResult, int] | Response:
    """Enrol photos of a student (multipart/form-data, one or more image files in any field).

    Each photo passes the strict face gate: exactly one face, large, sharp, frontal enough. Accepted
    photos give embeddings; the student's galleries get a new version. Refused photos are listed with
    the reason. 201 when at least one photo was accepted, 422 (with the same lists) when none was."""
    student = access.student_for(db_session, current_user, student_id)
    require_multipart()
    uploads = files_in_request(cap=current_settings().enrolment.max_photo_bytes)
    result = service.upload_photos(db_session, student, uploads, current_user)
    body = PhotoUploadResult(
        student_id=student.id,
        accepted=[
            EnrolmentPhoto.of(outcome.photo) for outcome in result.accepted if outcome.photo is not None
        ],
        rejected=[RefusedPhoto.of(outcome) for outcome in result.rejected],
        photos=len(photos.photos_of(db_session, student.id)),
        galleries=GalleryVersion.published(result.galleries),
    )
    db_session.commit()
    if not result.accepted:
        reasons = "; ".join(
            f"{outcome.filename}: {reason_text(outcome.reason)}" for outcome in result.rejected
        )
        message = gettext("no photo was accepted (%(reasons)s)", reasons=reasons)
        return error_response(422, message, **body.model_dump(mode="json"))
    return body, 201


limit("api.upload_student_photos", "ENROLMENT_MAX_UPLOAD_BYTES", "one upload of photos")


@api_route(
    "/students/<int:student_id>/photos/<int:photo_id>",
    "DELETE",
    roles=INSTRUCTOR,
    response=PhotoDeleteResult,
    errors=[404],
    tags=TAGS,
)
def delete_student_photo(student_id: int, photo_id: int) -> PhotoDeleteResult:
    """Delete an enrolment photo (its embedding and thumbnail); the student's galleries get a new version."""
    student, photo = access.photo_for(db_session, current_user, student_id, photo_id)
    published = service.delete_photo(db_session, photo, current_user)
    remaining = len(photos.photos_of(db_session, student.id))
    db_session.commit()
    return PhotoDeleteResult(
        deleted=photo_id, photos=remaining, galleries=GalleryVersion.published(published)
    )


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
        abort(404, gettext("photo %(id)s has no thumbnail", id=photo_id))
    response = Response(photo.thumbnail, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@api_route(
    "/courses/<int:course_id>/enrolment",
    "GET",
    roles=INSTRUCTOR,
    response=CourseEnrolment,
    errors=[404],
    tags=TAGS,
)
def get_course_enrolment(course_id: int) -> CourseEnrolment:
    """The course's roster with each student's number of accepted photos, and its gallery version."""
    course = access.course_for(db_session, current_user, course_id)
    current = service.course_gallery(db_session, course)
    lines = service.roster_with_counts(db_session, course)
    db_session.commit()
    return CourseEnrolment(
        course_id=course.id,
        code=course.code,
        title=course.title,
        gallery=GalleryVersion(course_id=course.id, version=current["version"], sha256=current["sha256"]),
        students=[
            EnrolledStudent(
                student_id=line.student.id,
                student_number=line.student.student_number,
                name=line.student.name,
                photos=line.photos,
            )
            for line in lines
        ],
    )


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
    response=EnrolmentImportReport,
    errors=[400, 404, 409, 413, 415, 503],
    tags=TAGS,
)
def import_course_enrolment(course_id: int) -> EnrolmentImportReport:
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
    return EnrolmentImportReport.model_validate(report)


limit("api.import_course_enrolment", "ENROLMENT_MAX_IMPORT_BYTES", "a bulk import")


@api_route(
    "/courses/<int:course_id>/gallery",
    "GET",
    roles=INSTRUCTOR,
    response=CourseGallery,
    errors=[404],
    tags=TAGS,
)
def get_course_gallery(course_id: int) -> Response:
    """The course's gallery for devices: enrolled embeddings by student, versioned, with its sha256.

    The ETag is the sha256: a device that sends `If-None-Match` with the gallery it holds gets 304
    (nothing to download) while the content is unchanged."""
    course = access.course_for(db_session, current_user, course_id)
    current = service.course_gallery(db_session, course)
    db_session.commit()
    CourseGallery.model_validate(current)  # the answer is the stored content as is: its sha256 covers it
    response = jsonify(current)
    response.set_etag(current["sha256"])
    response.headers["Cache-Control"] = "private, no-cache"
    return response.make_conditional(request)
