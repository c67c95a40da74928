"""Search by key photo: the faces of a key (an uploaded photo, or one of the user's own), one of them
chosen, and the user's photos that show that person, best first.

A search is saved (`album_searches`) with the key's faces (boxes and embeddings), so that when the
key shows several people the user can pick one without sending the photo again; only a small JPEG
of an uploaded key is kept, to draw the boxes on, and only the user's latest ALBUM_SEARCHES_KEPT
searches are.

Results: every face of the user's whose cosine similarity to the chosen face reaches the threshold
(ALBUM_SEARCH_THRESHOLD, by default the one measured for the embedder in SEARCH_THRESHOLDS), one
per photo (its best face, which the page outlines), ranked by similarity. When the chosen face is
one of the user's faces already placed in a person, faces the user marked "not this person" for
that person are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from flask import Flask
from flask_babel import gettext
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.album.errors import AlbumError, NotFound
from server.album.faceindex import model_of, owner_index
from server.album.photos import thumbnail
from server.db.models import AlbumFace, AlbumFaceRejection, AlbumPhoto, AlbumSearch, User
from server.faces.analyzer import face_analyzer
from server.faces.embeddings import as_json, from_bytes
from server.faces.images import shrink
from server.settings import settings_of
from server.uploads.files import Upload
from server.uploads.media_texts import media_text
from server.uploads.policy import over_limit, upload_shape
from shared.embed import require_embedder
from shared.media import MediaError, decode_image

KEY_IMAGE_PX = 800
# Default cut of an album search: the embedder's `album_threshold` (shared/embed.py). For dlib ResNet
# it was chosen on albums of a user's size (tens of people, some strangers) drawn from LFW by
# bench/measure_album.py, see docs/album.md ("Search cut"): 30 people: precision/recall 0.94/0.96 at
# 0.92, 0.98/0.90 at 0.93, 1.00/0.80 at 0.94; with 100-300 bystanders 0.92 falls to 0.77-0.87
# precision while 0.93 keeps 0.93-0.97. SFace's is its pooled false-accept-1e-4 point.


@dataclass
class Match:
    photo: AlbumPhoto
    face: AlbumFace
    similarity: float


def threshold(app: Flask) -> float:
    """The similarity cut of album searches: ALBUM_SEARCH_THRESHOLD, else the embedder's default."""
    configured = settings_of(app).album.search_threshold
    if configured is not None:
        return configured
    model = model_of(app)
    return float(require_embedder(model)["album_threshold"])


def from_upload(app: Flask, session: Session, owner: User, upload: Upload) -> AlbumSearch:
    """A search keyed by an uploaded photo (refused when it is no image or shows no face)."""
    album = settings_of(app).album
    max_bytes = album.max_photo_bytes
    if not upload.data:
        raise AlbumError(gettext("%(name)s: the key photo is empty (0 bytes)", name=upload.filename))
    if upload.full_size > max_bytes:
        raise AlbumError(
            gettext(
                "%(name)s: the key photo is %(size)s",
                name=upload.filename,
                size=over_limit(upload.full_size, max_bytes),
            ),
            status=413,
        )
    try:
        image = decode_image(upload.data, name=upload.filename, shape=upload_shape(app))
    except MediaError as exc:
        raise AlbumError(media_text(str(exc).rstrip("."), upload.filename), status=422) from None
    small = shrink(image, album.max_side_px)
    scale = image.shape[1] / small.shape[1]
    analyzed = face_analyzer(app).get(small)
    if not analyzed:
        raise AlbumError(
            gettext(
                "%(name)s: no face found in the key photo: use a photo that shows the person",
                name=upload.filename,
            ),
            422,
        )
    ranked = sorted(analyzed, key=lambda face: -face.face.size)
    faces = [
        {
            "box": [round(float(v) * scale, 1) for v in face.face.box],
            "score": round(float(face.face.score), 4),
            "embedding": as_json(face.embedding) if face.embedding is not None else None,
        }
        for face in ranked
    ]
    search = AlbumSearch(
        owner_id=owner.id,
        filename=upload.filename,
        image=thumbnail(image, KEY_IMAGE_PX),
        width=int(image.shape[1]),
        height=int(image.shape[0]),
        model=model_of(app),
        faces=faces,
    )
    return save(app, session, search)


def from_photo(app: Flask, session: Session, owner: User, photo: AlbumPhoto) -> AlbumSearch:
    """A search keyed by one of the user's own indexed photos."""
    if photo.status != "indexed":
        raise AlbumError(
            gettext("photo %(id)d is not indexed yet: wait for its analysis to finish", id=photo.id),
            status=409,
        )
    rows = sorted(photo.faces, key=lambda face: -min(face.box_w, face.box_h))
    if not rows:
        raise AlbumError(
            gettext("no face was found in photo %(id)d: pick a photo that shows the person", id=photo.id), 422
        )
    faces = [
        {
            "box": [face.box_x, face.box_y, face.box_x + face.box_w, face.box_y + face.box_h],
            "score": round(face.score, 4),
            "face_id": face.id,
        }
        for face in rows
    ]
    search = AlbumSearch(
        owner_id=owner.id,
        photo_id=photo.id,
        filename=photo.filename,
        width=photo.width,
        height=photo.height,
        model=photo.model or model_of(app),
        faces=faces,
    )
    return save(app, session, search)


def save(app: Flask, session: Session, search: AlbumSearch) -> AlbumSearch:
    session.add(search)
    session.flush()
    kept = settings_of(app).album.searches_kept
    stale = session.scalars(
        select(AlbumSearch.id)
        .where(AlbumSearch.owner_id == search.owner_id)
        .order_by(AlbumSearch.id.desc())
        .offset(kept)
    ).all()
    if stale:
        session.execute(delete(AlbumSearch).where(AlbumSearch.id.in_(stale)))
    return search


def key_vector(session: Session, search: AlbumSearch, number: int) -> tuple[np.ndarray, AlbumFace | None]:
    """The chosen face's embedding, and its album face when the key is one of the user's photos."""
    if not 0 <= number < len(search.faces):
        raise AlbumError(
            gettext(
                "the key photo has %(num)d face(s): choose face 0 to %(last)d",
                num=len(search.faces),
                last=len(search.faces) - 1,
            )
        )
    chosen: dict[str, Any] = search.faces[number]
    if chosen.get("face_id") is not None:
        face = session.get(AlbumFace, int(chosen["face_id"]))
        if face is None or face.owner_id != search.owner_id:
            raise NotFound("this face is no longer in your album: search again")
        return from_bytes(face.embedding, face.dim), face
    if chosen.get("embedding") is None:
        raise AlbumError("this face could not be embedded: choose another")
    return np.asarray(chosen["embedding"], dtype=np.float32), None


def run(app: Flask, session: Session, search: AlbumSearch, number: int) -> list[Match]:
    """The owner's photos showing the chosen face's person, best first (one entry per photo)."""
    vector, key_face = key_vector(session, search, number)
    index = owner_index(app, session, search.owner_id)
    hits = index.search(vector, k=None, min_similarity=threshold(app))
    if not hits:
        return []
    excluded: set[int] = set()
    if key_face is not None and key_face.person_id is not None:
        excluded = set(
            session.scalars(
                select(AlbumFaceRejection.face_id).where(AlbumFaceRejection.person_id == key_face.person_id)
            ).all()
        )
    similarity = {hit.id: hit.similarity for hit in hits if hit.id not in excluded}
    faces = session.scalars(
        select(AlbumFace).where(AlbumFace.id.in_(list(similarity)), AlbumFace.owner_id == search.owner_id)
    ).all()
    best: dict[int, Match] = {}
    for face in faces:
        score = similarity[face.id]
        current = best.get(face.photo_id)
        if current is None or score > current.similarity:
            best[face.photo_id] = Match(face.photo, face, score)
    return sorted(best.values(), key=lambda match: (-match.similarity, match.photo.id))
