"""Deepfake endpoints of /api/v1: upload files as checks, list one's own checks, read, cancel, delete,
and fetch the face crops that drove a score. Every check belongs to the user who uploaded it; any other
user (administrators included) gets 404 for its id."""

from __future__ import annotations

from flask import Response, abort
from flask_babel import gettext
from flask_login import current_user

from server.api.endpoints import FILES, api_route
from server.api.io import query_int
from server.db import db_session
from server.db.enums import Role
from server.db.models.deepfake import DeepfakeFace
from server.db.types import BIGINT_MAX
from server.deepfake import service
from server.deepfake.schemas import (
    DeepfakeCheck,
    DeepfakeDeleted,
    DeepfakeHistory,
    DeepfakeRefusedFile,
    DeepfakeSubmission,
)
from server.errors import json_error
from server.settings import current_settings
from server.uploads.files import files_in_request
from server.uploads.limits import limit

TAGS = ["deepfake"]
ROLES = [Role.ALBUM_USER, Role.INSTRUCTOR]


@api_route(
    "/deepfake/checks",
    "POST",
    roles=ROLES,
    form={
        "type": "object",
        "properties": {"file": {**FILES, "description": "Videos or photos to check (repeat the field)."}},
        "required": ["file"],
    },
    response=DeepfakeSubmission,
    status=202,
    errors=[400, 413, 415, 422],
    tags=TAGS,
)
def create_deepfake_checks() -> tuple[DeepfakeSubmission, int] | Response:
    """Upload videos or photos to check (multipart/form-data, field `file`, repeatable).

    Each accepted file becomes a queued check with its own job; poll `GET /deepfake/checks/{id}` (or
    `GET /jobs/{job_id}`) for progress and the result. Files refused at once (empty, too large, not an
    image or a video) are listed in `refused`; if every file is refused the answer is 4xx with the
    first reason. Accepted: JPEG, PNG, WebP, BMP, TIFF; MP4, MOV, MKV, WebM, AVI (at most 10 minutes)."""
    uploads = files_in_request(("file",), cap=current_settings().deepfake.max_file_bytes)
    if not uploads:
        abort(400, "Send at least one file in the multipart field 'file'.")
    most = current_settings().deepfake.max_files_per_upload
    if len(uploads) > most:
        abort(
            400,
            gettext(
                "%(num)d files in one request: send at most %(most)d at a time.", num=len(uploads), most=most
            ),
        )
    checks, refused = service.submit_checks(db_session, current_user.id, uploads)
    if not checks:
        db_session.rollback()
        response = json_error(service.refusal_status(refused), refused[0].reason)
        return response
    body = DeepfakeSubmission(
        checks=[DeepfakeCheck.of(db_session, check, full=False) for check in checks],
        refused=[DeepfakeRefusedFile.of(r) for r in refused],
    )
    db_session.commit()
    return body, 202


@api_route(
    "/deepfake/checks",
    "GET",
    roles=ROLES,
    response=DeepfakeHistory,
    tags=TAGS,
    query=[
        {"name": "limit", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
        {
            "name": "before",
            "schema": {"type": "integer", "format": "int64", "minimum": 1, "maximum": BIGINT_MAX},
            "description": "Only checks with a smaller id.",
        },
    ],
    errors=[400],
)
def list_deepfake_checks() -> DeepfakeHistory:
    """Your own checks, newest first (without the per-frame details)."""
    limit = query_int("limit", current_settings().deepfake.history_page, 1, 200)
    before = query_int("before", None, 1, BIGINT_MAX)  # a check id (BIGINT)
    checks = service.history(db_session, current_user.id, limit, before)
    return DeepfakeHistory(
        checks=[DeepfakeCheck.of(db_session, check, full=False) for check in checks],
        next_before=checks[-1].id if len(checks) == limit else None,
    )


@api_route(
    "/deepfake/checks/<bigid:check_id>", "GET", roles=ROLES, response=DeepfakeCheck, errors=[404], tags=TAGS
)
def get_deepfake_check(check_id: int) -> DeepfakeCheck:
    """One of your checks with its result: probability, verdict, note, timeline and face crops."""
    return DeepfakeCheck.of(db_session, service.owned_check(db_session, current_user.id, check_id))


@api_route(
    "/deepfake/checks/<bigid:check_id>/cancel",
    "POST",
    roles=ROLES,
    response=DeepfakeCheck,
    errors=[404, 409],
    tags=TAGS,
)
def cancel_deepfake_check(check_id: int) -> DeepfakeCheck:
    """Cancel one of your checks while it is queued or running.

    It stops without a result (status `cancelled`) and its upload is deleted. 409 when the check is
    already done, failed or cancelled."""
    check = service.owned_check(db_session, current_user.id, check_id)
    if not service.cancel_check(db_session, check):
        db_session.rollback()
        abort(
            409,
            gettext(
                "Check %(id)s has already ended; only a queued or running check can be cancelled.",
                id=check_id,
            ),
        )
    db_session.commit()
    return DeepfakeCheck.of(db_session, check)


@api_route(
    "/deepfake/checks/<bigid:check_id>",
    "DELETE",
    roles=ROLES,
    response=DeepfakeDeleted,
    errors=[404],
    tags=TAGS,
)
def delete_deepfake_check(check_id: int) -> DeepfakeDeleted:
    """Delete one of your checks with its face crops (and the upload, if it has not been scored yet)."""
    check = service.owned_check(db_session, current_user.id, check_id)
    service.delete_check(db_session, check)
    db_session.commit()
    return DeepfakeDeleted(deleted=check_id)


@api_route(
    "/deepfake/checks/<bigid:check_id>/faces/<int:ordinal>.jpg",
    "GET",
    roles=ROLES,
    errors=[404],
    tags=TAGS,
    operation_id="deepfake_face_image",
)
def deepfake_face_image(check_id: int, ordinal: int) -> Response:
    """A face crop (JPEG) as the classifier saw it; ordinal 1 is the highest-scoring face."""
    check = service.owned_check(db_session, current_user.id, check_id)
    face = next((f for f in check.faces if f.ordinal == ordinal), None)
    if not isinstance(face, DeepfakeFace):
        abort(404, gettext("Check %(id)s has no face %(number)s.", id=check_id, number=ordinal))
    response = Response(face.jpeg, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


limit("api.create_deepfake_checks", "DEEPFAKE_MAX_UPLOAD_BYTES", "one request")
