"""`POST /api/v1/faces/compare`: Rekognition's CompareFaces over REST (see `server.faces_api.compare`).

Each side is an uploaded image (multipart fields `source` and `target`) or one of the caller's own
album photos (`source_photo_id` / `target_photo_id`, as form fields or JSON). Both sides are read,
size-checked and decoded before any face is analysed, so a bad target costs no analysis. Nothing is
stored: the pictures live only for the request.
"""

from __future__ import annotations

from flask import abort, current_app, request
from flask_babel import gettext
from flask_login import current_user

from server.album import access
from server.api.endpoints import EMPTY_QUERY_VALUE, FILE, api_route
from server.api.io import int_text
from server.db import db_session
from server.db.enums import Role
from server.db.types import INT_MAX
from server.faces.analyzer import face_analyzer
from server.faces_api.compare import Picture, compare
from server.faces_api.schemas import FaceCompareRequest, FaceComparison
from server.settings import current_settings
from server.storage import StorageError, storage
from server.uploads.files import Upload, files_in_request
from server.uploads.limits import limit
from server.uploads.media_texts import media_text
from server.uploads.policy import over_limit, upload_shape
from shared.media import MediaError, decode_image

TAGS = ["faces"]
SIDES = ("source", "target")
REQUEST_BYTES = "ENROLMENT_MAX_UPLOAD_BYTES"  # the whole request, refused before it is read

FORM_ID = {"anyOf": [{"type": "integer", "minimum": 1, "maximum": INT_MAX}, EMPTY_QUERY_VALUE]}
COMPARE_FORM = {
    "type": "object",
    "properties": {
        "source": {**FILE, "description": "The image whose largest face is compared."},
        "target": {**FILE, "description": "The image whose faces it is compared with."},
        "source_photo_id": {**FORM_ID, "description": "Or one of your album photos as the source."},
        "target_photo_id": {**FORM_ID, "description": "Or one of your album photos as the target."},
    },
}


@api_route(
    "/faces/compare",
    "POST",
    roles=[Role.ALBUM_USER, Role.INSTRUCTOR],
    request=FaceCompareRequest,
    form=COMPARE_FORM,
    response=FaceComparison,
    errors=[400, 404, 413, 415, 422, 503],
    tags=TAGS,
)
def compare_faces(body: FaceCompareRequest | None) -> FaceComparison:
    """Compare the faces of two images (like Rekognition's CompareFaces and `visage faces compare`).

    Send `source` and `target` as image files (multipart/form-data), or name your own album photos
    (`source_photo_id`, `target_photo_id`, as form fields or JSON). Every source face is paired with
    every target face (similarity, and the decision at the server embedder's 1:1 threshold); the
    largest source face is the one compared: `face_matches` and `unmatched_faces` are the target faces
    it matches and does not. No face in the source: 422; none in the target: empty pairs. Nothing is
    stored."""
    pictures = [picture(side, *reference) for side, reference in zip(SIDES, references(body), strict=True)]
    return FaceComparison.model_validate(compare(face_analyzer(), *pictures))


limit("api.compare_faces", REQUEST_BYTES, "two images to compare")


def references(body: FaceCompareRequest | None) -> list[tuple[Upload | None, int | None]]:
    """Per side, the uploaded file or the album photo id; 4xx naming the side that is missing."""
    if body is not None:  # a JSON request, read by the model
        return [(None, body.source_photo_id), (None, body.target_photo_id)]
    if request.mimetype not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        abort(415, "send the two images as multipart/form-data (fields `source` and `target`)")
    found = []
    for side in SIDES:
        uploads = files_in_request((side,), cap=current_settings().enrolment.max_photo_bytes)
        raw_id = request.form.get(f"{side}_photo_id", "")
        photo_id = int_text(raw_id)
        if raw_id.strip() and photo_id is None:
            abort(400, gettext("'%(side)s_photo_id' must be the id of one of your album photos", side=side))
        if len(uploads) + (photo_id is not None) != 1:
            abort(
                400,
                gettext(
                    "send exactly one %(side)s image: a file in the field `%(side)s` or `%(side)s_photo_id`",
                    side=side,
                ),
            )
        found.append((uploads[0] if uploads else None, photo_id))
    return found


def picture(side: str, upload: Upload | None, photo_id: int | None) -> Picture:
    """The decoded image of one side; 4xx with a sentence when it is empty, too large or no image."""
    if upload is None:
        assert photo_id is not None
        photo = access.photo_for(db_session, current_user, photo_id)  # NotFound (404) unless it is yours
        try:
            data = storage().get(photo.storage_key)
        except StorageError:
            abort(404, gettext("the file of photo %(id)s is missing from storage", id=photo_id))
        upload = Upload(photo.filename, data)
    max_bytes = current_settings().enrolment.max_photo_bytes
    if not upload.data:
        abort(
            400,
            gettext(
                "%(filename)s: the %(side)s image is empty (0 bytes)", filename=upload.filename, side=side
            ),
        )
    if upload.full_size > max_bytes:
        abort(
            413,
            gettext(
                "%(filename)s: the %(side)s image is %(limit)s",
                filename=upload.filename,
                side=side,
                limit=over_limit(upload.full_size, max_bytes),
            ),
        )
    try:
        image = decode_image(upload.data, name=upload.filename, shape=upload_shape(current_app))
    except MediaError as exc:
        message = f"{side}: {media_text(str(exc).rstrip('.'), upload.filename)}"  # the field name as sent
        abort(422, message)
    return Picture(upload.filename, image)
