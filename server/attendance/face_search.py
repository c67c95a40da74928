"""Search by key photo across the unknown faces of the instructor's own courses (X3 of the product plan):
"was this person in my classes?" without knowing their name.

The key photo is read like the album's (`server.album.search.from_upload`: the same size and shape
limits, safe decoding, the app's face analyzer); its largest face is compared with the best-view
embedding of every unknown track of the caller's courses (administrators: every course), embedder
against the same embedder only. Matches at or above the embedder's cluster threshold come back, best
first, with the session, the time, the track's crop and the score. Tracks already assigned to a
student are not unknown any more and are not searched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from flask import current_app
from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.attendance.clusters import cluster_threshold, model_id, vector_of
from server.attendance.review import ReviewError
from server.db.enums import Role
from server.db.models import Course, LectureSession, Sighting, UnknownFaceReview, User
from server.faces.analyzer import face_analyzer
from server.faces.images import shrink
from server.settings import current_settings
from server.uploads.files import Upload
from server.uploads.media_texts import media_text
from server.uploads.policy import over_limit, upload_shape
from shared.embed import embedder_id
from shared.media import MediaError, decode_image
from shared.similarity import l2_normalize

MAX_RESULTS = 50


@dataclass(frozen=True)
class KeyFace:
    vector: np.ndarray
    model: str
    faces: int  # faces found in the key photo (the largest is searched)


@dataclass(frozen=True)
class UnknownMatch:
    sighting: Sighting
    lecture: LectureSession
    review: UnknownFaceReview | None
    score: float
    captured_at: datetime


def key_face(upload: Upload, max_bytes: int) -> KeyFace:
    """The largest face of the key photo, embedded; ReviewError (4xx) when it is no usable photo."""
    if not upload.data:
        raise ReviewError(gettext("%(name)s: the key photo is empty (0 bytes)", name=upload.filename))
    if upload.full_size > max_bytes:
        raise ReviewError(
            gettext(
                "%(name)s: the key photo is %(size)s",
                name=upload.filename,
                size=over_limit(upload.full_size, max_bytes),
            ),
            413,
        )
    try:
        image = decode_image(upload.data, name=upload.filename, shape=upload_shape())
    except MediaError as exc:
        raise ReviewError(media_text(str(exc).rstrip("."), upload.filename), 422) from None
    analyzer = face_analyzer()
    faces = analyzer.get(shrink(image, current_settings().enrolment.max_side_px))
    faces = [f for f in faces if f.embedding is not None]
    if not faces:
        raise ReviewError(
            gettext(
                "%(name)s: no face found in the key photo: use a photo that shows the person",
                name=upload.filename,
            ),
            422,
        )
    largest = max(faces, key=lambda f: f.face.size)
    vector = l2_normalize(np.asarray(largest.embedding, dtype=np.float32))
    return KeyFace(vector, embedder_id(analyzer.embedder_name), len(faces))


def search_unknown(db: Session, user: User, key: KeyFace, limit: int = MAX_RESULTS) -> list[UnknownMatch]:
    """The unknown tracks of the user's courses most like `key`, at or above the cluster threshold."""
    query = (
        select(Sighting, LectureSession)
        .join(LectureSession, LectureSession.id == Sighting.session_id)
        .join(Course, Course.id == LectureSession.course_id)
        .where(Sighting.student_id.is_(None), Sighting.embedding.is_not(None))
    )
    if user.role != Role.ADMIN:
        query = query.where(Course.instructor_id == user.id)
    threshold = cluster_threshold(key.model, current_app.config)
    best: dict[tuple[int, int, str], UnknownMatch] = {}
    for sighting, lecture in db.execute(query):
        if model_id(sighting.embedding_model) != key.model:
            continue
        vector = vector_of(sighting.embedding)
        if vector is None or vector.shape != key.vector.shape:
            continue
        score = float(vector @ key.vector)
        track = (lecture.id, sighting.device_id, sighting.track_id)
        if score >= threshold and (track not in best or score > best[track].score):
            best[track] = UnknownMatch(sighting, lecture, None, score, sighting.captured_at)
    ranked = sorted(best.values(), key=lambda m: (-m.score, m.captured_at))[:limit]
    return [
        UnknownMatch(m.sighting, m.lecture, _review(db, m.sighting), m.score, m.captured_at) for m in ranked
    ]


def _review(db: Session, sighting: Sighting) -> UnknownFaceReview | None:
    return db.scalars(
        select(UnknownFaceReview).where(
            UnknownFaceReview.session_id == sighting.session_id,
            UnknownFaceReview.device_id == sighting.device_id,
            UnknownFaceReview.track_id == sighting.track_id,
        )
    ).first()
