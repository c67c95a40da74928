"""The album's background indexing: every face of every new photo detected, assessed, embedded and
stored, the photo flagged when blurred, then the owner's faces grouped into people.

One job (kind "album.index") per upload batch, payload `{"photo_ids": [...]}`, owned by the uploader.
Progress is reported per photo. A photo that cannot be analysed (its file vanished, it no longer
decodes) is marked `failed` with the reason and the job goes on; re-running a job re-indexes its
photos from scratch (their faces are replaced), so a job retried after a crash does no harm.
Each photo is claimed first (pending -> indexing, atomically), so two jobs never analyse one photo.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from flask import Flask
from PIL import Image
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.album import people
from server.album.faceindex import model_of
from server.album.photos import face_crop_key
from server.db.models import AlbumFace, AlbumPhoto
from server.db.types import utcnow
from server.faces.analyzer import face_analyzer
from server.faces.embeddings import to_bytes
from server.faces.images import shrink
from server.jobs import JobContext, job_handler
from server.settings import settings_of
from server.storage import Storage, StorageError, storage
from server.uploads.policy import upload_shape
from shared.analysis import AnalyzedFace, FaceAnalyzer
from shared.media import MediaError, decode_image
from shared.quality import image_blur

KIND = "album.index"


def submit_index(session: Session, owner_id: int, photo_ids: list[int]) -> Any:
    """Queue the indexing of these photos (the caller commits; the job starts on commit)."""
    from server.jobs import submit_job

    return submit_job(session, KIND, payload={"photo_ids": sorted(photo_ids)}, owner_id=owner_id)


# Not cancellable: album indexing is automatic and resumable; cancelling it would only leave photos
# unindexed.
@job_handler(KIND, cancellable=False)
def index_photos(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    photo_ids = [int(value) for value in payload.get("photo_ids", [])]
    owner_id = ctx.owner_id
    app = ctx.app
    analyzer = face_analyzer(app)
    store = storage(app)
    indexed = failed = faces = 0
    ctx.progress(0, len(photo_ids), message="analysing photos")
    for done, photo_id in enumerate(photo_ids, start=1):
        with ctx.session() as session:
            photo = claim(session, photo_id, owner_id, retry=ctx.attempt > 1)
            if photo is not None:
                try:
                    found = index_photo(app, session, store, analyzer, photo)
                    session.commit()
                except Exception as exc:  # storage down, a bug: this photo fails, the others go on
                    session.rollback()
                    app.logger.exception("album: indexing photo %s failed", photo_id)
                    session.execute(
                        update(AlbumPhoto)
                        .where(AlbumPhoto.id == photo_id)
                        .values(status="failed", error=f"analysis failed: {exc}", indexed_at=utcnow())
                    )
                    session.commit()
                    found = None
                if found is None:
                    failed += 1
                else:
                    indexed += 1
                    faces += found
        ctx.progress(done, len(photo_ids), message=f"{done} of {len(photo_ids)} photos analysed")
    grouped = None
    if owner_id is not None:
        ctx.progress(len(photo_ids), len(photo_ids), message="grouping faces into people")
        with ctx.session() as session:
            summary = people.regroup(app, session, owner_id)
        grouped = {
            "new_people": summary.new_people,
            "assigned": summary.assigned,
            "leftovers": summary.leftovers,
        }
    return {
        "photos": len(photo_ids),
        "indexed": indexed,
        "failed": failed,
        "faces": faces,
        "grouping": grouped,
    }


def claim(session: Session, photo_id: int, owner_id: int | None, *, retry: bool) -> AlbumPhoto | None:
    """Take a pending photo for this job (status "indexing", committed), or None when it is gone,
    not the owner's, or already taken by another job: two jobs never analyse one photo at once.
    A retried job (its worker died) takes back the photos left "indexing"."""
    allowed = ["pending", "indexing"] if retry else ["pending"]
    taken = session.execute(
        update(AlbumPhoto)
        .where(AlbumPhoto.id == photo_id, AlbumPhoto.owner_id == owner_id, AlbumPhoto.status.in_(allowed))
        .values(status="indexing")
    ).rowcount
    session.commit()
    return session.get(AlbumPhoto, photo_id) if taken else None


def index_photo(
    app: Flask, session: Session, store: Storage, analyzer: FaceAnalyzer, photo: AlbumPhoto
) -> int | None:
    """Analyse one photo and store its faces; the number of faces, or None when it failed."""
    try:
        # The upload's shape check again: a photo stored before it existed fails with a sentence.
        image = decode_image(store.get(photo.storage_key), name=photo.filename, shape=upload_shape(app))
    except (StorageError, MediaError) as exc:
        photo.status, photo.error, photo.indexed_at = "failed", str(exc), utcnow()
        return None
    remove_faces(session, store, photo)
    album = settings_of(app).album
    small = shrink(image, album.max_side_px)
    scale = image.shape[1] / small.shape[1]
    found = analyzer.get(small)
    crop_px = album.face_crop_px
    model = model_of(app)
    rows = [face_row(photo, face, scale, model) for face in found]
    session.add_all(rows)
    session.flush()
    for row, face in zip(rows, found, strict=True):
        row.crop_key = face_crop_key(photo.owner_id, row.id)
        store.put(row.crop_key, crop_jpeg(face.chip, crop_px), "image/jpeg")
    photo.sharpness = image_blur(image)
    photo.blurred = photo.sharpness < album.blur_threshold
    photo.face_count = len(rows)
    photo.model = model
    photo.status, photo.error, photo.indexed_at = "indexed", None, utcnow()
    session.flush()
    return len(rows)


def face_row(photo: AlbumPhoto, analyzed: AnalyzedFace, scale: float, model: str) -> AlbumFace:
    box = np.asarray(analyzed.face.box, dtype=np.float64) * scale
    x1, y1 = max(0.0, box[0]), max(0.0, box[1])
    x2, y2 = min(float(photo.width), box[2]), min(float(photo.height), box[3])
    assert analyzed.embedding is not None
    quality = analyzed.quality
    return AlbumFace(
        photo_id=photo.id,
        owner_id=photo.owner_id,
        box_x=round(x1, 1),
        box_y=round(y1, 1),
        box_w=round(max(0.0, x2 - x1), 1),
        box_h=round(max(0.0, y2 - y1), 1),
        score=float(analyzed.face.score),
        landmarks=[[round(float(v) * scale, 1) for v in point] for point in analyzed.face.landmarks],
        quality={
            "face_px": round(float(quality.face_px) * scale, 1),
            "passed": bool(quality.passed),
            "reasons": list(quality.reasons),
            "pose": {"yaw": quality.pose.yaw, "pitch": quality.pose.pitch, "roll": quality.pose.roll},
        },
        sharpness=float(quality.sharpness),
        embedding=to_bytes(analyzed.embedding),
        dim=int(analyzed.embedding.shape[0]),
        model=model,
    )


def crop_jpeg(chip: np.ndarray, size: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(chip).resize((size, size), Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def remove_faces(session: Session, store: Storage, photo: AlbumPhoto) -> None:
    """Drop a photo's faces (rows and crops) before it is indexed again."""
    for face in session.scalars(select(AlbumFace).where(AlbumFace.photo_id == photo.id)):
        if face.crop_key:
            store.delete(face.crop_key)
        session.delete(face)
    session.flush()
