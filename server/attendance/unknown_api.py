"""API of the unknown-face review beyond single faces (issue 15): decide a whole cluster, learn a face
into the enrolment and remove it again, search unknown faces by a key photo.

Same rules as `server.attendance.api`: the course's instructor and administrators only (other ids
answer 404), every input validated before anything is written, every change audited.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, request
from flask_login import current_user

from server.api.endpoints import FILE, api_route
from server.attendance import face_search, learning, review
from server.attendance.access import cluster_or_404, learned_or_404, review_or_404, sighting_or_404
from server.attendance.schemas import (
    LearnedFace,
    UnknownClusterDecision,
    UnknownClusterDecisionResult,
    UnknownFaceMatch,
    UnknownFaceSearch,
    UnlearnedFace,
    thumbnail_url,
)
from server.attendance.unknown import cluster_shape
from server.db import db_session
from server.db.enums import Role
from server.settings import current_settings
from server.uploads.files import files_in_request
from server.uploads.limits import limit

INSTRUCTOR = [Role.INSTRUCTOR]
TAGS = ["attendance"]

# The two ways to learn a face answer alike: 201 with the learned face; 422 when the crop fails the
# enrolment photo gate, 503 without the face core.
LEARN_ROUTE: dict[str, Any] = {
    "roles": INSTRUCTOR,
    "response": LearnedFace,
    "status": 201,
    "errors": [404, 409, 422, 503],
    "tags": TAGS,
}
SEARCH_FORM = {
    "type": "object",
    "properties": {"key": {**FILE, "description": "The key photo (its largest face is searched)."}},
    "required": ["key"],
}


@api_route(
    "/unknown-clusters/<int:cluster_id>",
    "POST",
    roles=INSTRUCTOR,
    request=UnknownClusterDecision,
    response=UnknownClusterDecisionResult,
    errors=[404, 409],
    tags=TAGS,
)
def decide_unknown_cluster(cluster_id: int, body: UnknownClusterDecision) -> UnknownClusterDecisionResult:
    """Assign every face of an unknown person (a cluster, across the course's sessions) to a roster
    student, or mark them all "not a student". Send the cluster's `version` as you saw it: a face
    that joined since answers 409 and nothing changes. Audited on each session and on the cluster."""
    cluster = cluster_or_404(db_session, current_user, cluster_id)
    result = review.decide_cluster(
        db_session,
        cluster,
        current_user,
        decision=body.decision,
        student_id=body.student_id,
        version=body.version,
        reason=body.reason,
    )
    db_session.commit()
    return UnknownClusterDecisionResult(
        cluster=cluster_shape(db_session, cluster),
        decided=result.reviews,
        sessions=result.sessions,
        relabelled=result.relabelled,
    )


@api_route("/unknown-faces/<int:face_id>/learn", "POST", **LEARN_ROUTE)
def learn_unknown_face(face_id: int) -> tuple[LearnedFace, int]:
    """Add an assigned unknown face's best crop to its student's enrolment, through the enrolment
    photo gate (a crop that fails answers 422 with the gate's reasons). The student's course galleries
    get a new version, which devices pick up. Audited; undo with DELETE /learned-faces/{id}."""
    face = review_or_404(db_session, current_user, face_id)
    learned = learning.learn_from_review(db_session, face, current_user)
    db_session.commit()
    return LearnedFace.of(learned), 201


@api_route("/sightings/<bigid:sighting_id>/learn", "POST", **LEARN_ROUTE)
def learn_sighting_face(sighting_id: int) -> tuple[LearnedFace, int]:
    """Add a recognised student's crop (a sighting's thumbnail) to their enrolment, through the
    enrolment photo gate (422 with its reasons when it fails). Audited; removable."""
    sighting = sighting_or_404(db_session, current_user, sighting_id)
    learned = learning.learn_from_sighting(db_session, sighting, current_user)
    db_session.commit()
    return LearnedFace.of(learned), 201


@api_route(
    "/learned-faces/<int:learned_id>",
    "DELETE",
    roles=INSTRUCTOR,
    response=UnlearnedFace,
    errors=[404],
    tags=TAGS,
)
def delete_learned_face(learned_id: int) -> UnlearnedFace:
    """Remove a face learned from review from the student's enrolment (their galleries are published
    again). Audited."""
    learned = learned_or_404(db_session, current_user, learned_id)
    versions = learning.unlearn(db_session, learned, current_user)
    db_session.commit()
    return UnlearnedFace(deleted=learned_id, galleries={str(k): v for k, v in versions.items()})


@api_route(
    "/unknown-faces/search",
    "POST",
    roles=INSTRUCTOR,
    form=SEARCH_FORM,
    response=UnknownFaceSearch,
    errors=[400, 413, 415, 422, 503],
    tags=TAGS,
)
def search_unknown_faces() -> UnknownFaceSearch:
    """Search the unknown faces of your own courses by a key photo (multipart/form-data, file field
    `key`): the matching unknown tracks with session, time, crop and score, best first."""
    if request.mimetype != "multipart/form-data":
        abort(415, "send the key photo as multipart/form-data (file field `key`)")
    return run_search(files_in_request(("key",), cap=current_settings().enrolment.max_photo_bytes))


limit("api.search_unknown_faces", "ENROLMENT_MAX_PHOTO_BYTES", "a key photo")


def run_search(keys: list[Any]) -> UnknownFaceSearch:
    """The search as the API and the search page both answer it (4xx via abort on bad input)."""
    if len(keys) != 1:
        abort(400, "attach exactly one key photo (file field `key`)")
    key = face_search.key_face(keys[0], current_settings().enrolment.max_photo_bytes)
    matches = face_search.search_unknown(db_session, current_user, key)
    return UnknownFaceSearch(
        faces_in_key=key.faces,
        threshold=face_search.cluster_threshold(key.model, current_app.config),
        matches=[match_shape(m) for m in matches],
    )


def match_shape(match: face_search.UnknownMatch) -> UnknownFaceMatch:
    crop = match.sighting if match.sighting.thumbnail is not None else None
    if crop is None and match.review is not None:
        crop = learning.best_crop(db_session, match.review)
    return UnknownFaceMatch(
        face_id=match.review.id if match.review else None,
        session_id=match.lecture.id,
        course=match.lecture.course.code,
        captured_at=match.captured_at,
        device_id=match.sighting.device_id,
        track_id=match.sighting.track_id,
        score=round(match.score, 4),
        thumbnail_url=thumbnail_url(crop.id if crop else None),
    )
