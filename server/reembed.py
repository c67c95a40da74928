"""Re-embedding after an embedder switch: the `faces.reembed` job converts stored faces to the
configured embedder (GALLERY_MODEL), so galleries and album searches survive the change.

Every stored embedding records its embedder id (`name@version`, migration 0010), and readers only
ever use rows of the configured id. This job finds the rows of any other id and converts them:
- album faces: from the stored original photo and the face's stored landmarks (the same cut the
  indexer made), so the new vectors are what indexing the photo anew would give, and people keep
  their faces. The album index of the new id picks the faces up like new ones (it follows face ids).
- enrolment photos: the uploaded photo is never stored (privacy), so the face is re-cut from the
  stored thumbnail (the aligned 150-chip, kept when ENROLMENT_THUMBNAILS is on) with its landmarks
  at the template points; the thumbnail's border is filled by edge replication where the new
  embedder's crop is wider. Rows without a thumbnail cannot be converted: the job lists their
  students, who need new photos. Templates are recomputed and the courses' galleries republished.

Resumable by construction: each photo or student is committed on its own, and a run (or a retry
after a crash or a cancel) only ever selects rows still of another id.
"""

from __future__ import annotations

import io
from typing import Any

import cv2
import numpy as np
from PIL import Image
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.album.faceindex import model_of
from server.db.enums import FaceKind
from server.db.models import AlbumFace, AlbumPhoto, FaceTemplate
from server.enrolment import gallery
from server.enrolment.photos import refresh_template
from server.faces import embeddings
from server.faces.analyzer import face_analyzer
from server.faces.images import shrink
from server.jobs import JobContext, job_handler
from server.settings import settings_of
from server.storage import StorageError, storage
from shared.align import CHIP_SIZE, DLIB_CHIP_TEMPLATE
from shared.analysis import FaceAnalyzer
from shared.detect import Face
from shared.media import MediaError, decode_image

KIND = "faces.reembed"
# Thumbnails are padded by this fraction per side before re-cutting, so wider crops see no black.
THUMBNAIL_PAD = 0.25


def submit_reembed(session: Session, owner_id: int | None = None) -> Any:
    """Queue a re-embedding run (the caller commits)."""
    from server.jobs import submit_job

    return submit_job(session, KIND, payload={}, owner_id=owner_id)


def stale_work(session: Session, target: str) -> tuple[list[int], list[int]]:
    """(album photo ids, student ids) that still hold faces of an embedder other than `target`."""
    photos = sorted(set(session.scalars(select(AlbumFace.photo_id).where(AlbumFace.model != target))))
    students = sorted(
        set(
            session.scalars(
                select(FaceTemplate.student_id).where(
                    FaceTemplate.model != target, FaceTemplate.kind == FaceKind.PHOTO
                )
            )
        )
    )
    return photos, students


@job_handler(KIND, cancellable=True)
def reembed(ctx: JobContext, payload: dict[str, Any]) -> dict[str, Any]:
    app = ctx.app
    target = model_of(app)
    analyzer = face_analyzer(app)
    with ctx.session() as session:
        photo_ids, student_ids = stale_work(session, target)
    total = len(photo_ids) + len(student_ids)
    result: dict[str, Any] = {"embedder": target, "album_faces": 0, "album_photos_failed": 0,
                              "enrolment_photos": 0, "students_need_photos": []}  # fmt: skip
    ctx.progress(0, total, message=f"re-embedding with {target}")
    done = 0
    max_side = settings_of(app).album.max_side_px
    store = storage(app)
    for photo_id in photo_ids:
        with ctx.session() as session:
            converted = reembed_photo(session, store, analyzer, photo_id, target, max_side)
            session.commit()
        if converted is None:
            result["album_photos_failed"] += 1
        else:
            result["album_faces"] += converted
        done += 1
        ctx.progress(done, total, message=f"{done} of {total} photos and students re-embedded")
    courses: set[int] = set()
    for student_id in student_ids:
        with ctx.session() as session:
            converted = reembed_student(session, analyzer, student_id, target)
            if converted is None:
                result["students_need_photos"].append(student_id)
            else:
                result["enrolment_photos"] += converted
                courses |= gallery.courses_of(session, [student_id])
            session.commit()
        done += 1
        ctx.progress(done, total, message=f"{done} of {total} photos and students re-embedded")
    with ctx.session() as session:
        published = gallery.publish(session, courses, target, gallery.configured()[1])
        session.commit()
    result["galleries_published"] = sorted(published)
    return result


def reembed_photo(
    session: Session, store: Any, analyzer: FaceAnalyzer, photo_id: int, target: str, max_side: int
) -> int | None:
    """Re-embed one album photo's faces in place; the number converted, or None when it cannot be read."""
    photo = session.get(AlbumPhoto, photo_id)
    faces = list(
        session.scalars(select(AlbumFace).where(AlbumFace.photo_id == photo_id, AlbumFace.model != target))
    )
    if photo is None or not faces:
        return 0
    try:
        image = decode_image(store.get(photo.storage_key), name=photo.filename)
    except (StorageError, MediaError):
        return None
    small = shrink(image, max_side)
    scale = image.shape[1] / small.shape[1]
    cut = [
        Face(
            box=np.array([f.box_x, f.box_y, f.box_x + f.box_w, f.box_y + f.box_h], np.float32) / scale,
            score=float(f.score),
            landmarks=np.asarray(f.landmarks, np.float32).reshape(5, 2) / scale,
        )
        for f in faces
        if f.landmarks
    ]
    if len(cut) != len(faces):
        return None
    vectors = analyzer.embed(small, cut)
    for row, vector in zip(faces, vectors, strict=True):
        row.embedding, row.dim, row.model = embeddings.to_bytes(vector), int(vector.shape[0]), target
    photo.model = target
    session.flush()
    return len(faces)


def reembed_student(session: Session, analyzer: FaceAnalyzer, student_id: int, target: str) -> int | None:
    """Re-embed a student's enrolment photos from their thumbnails; None when one has no thumbnail."""
    rows = list(
        session.scalars(
            select(FaceTemplate).where(
                FaceTemplate.student_id == student_id,
                FaceTemplate.kind == FaceKind.PHOTO,
                FaceTemplate.model != target,
            )
        )
    )
    if any(row.thumbnail is None for row in rows):
        return None
    for row in rows:
        image, face = thumbnail_face(row.thumbnail)
        vector = analyzer.embed(image, [face])[0]
        row.embedding, row.dim, row.model = embeddings.to_bytes(vector), int(vector.shape[0]), target
    session.execute(  # the combined template of the old embedder goes; the new one is computed
        delete(FaceTemplate).where(
            FaceTemplate.student_id == student_id,
            FaceTemplate.kind == FaceKind.TEMPLATE,
            FaceTemplate.model != target,
        )
    )
    session.flush()
    refresh_template(session, student_id, target)
    return len(rows)


def thumbnail_face(data: bytes) -> tuple[np.ndarray, Face]:
    """The thumbnail (an aligned dlib-template chip) padded by edge replication, and its face."""
    chip = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    size = chip.shape[0]
    pad = round(size * THUMBNAIL_PAD)
    padded = cv2.copyMakeBorder(chip, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    landmarks = DLIB_CHIP_TEMPLATE * (size / CHIP_SIZE) + pad
    box = np.array([pad, pad, pad + size, pad + size], np.float32)
    return padded, Face(box=box, score=1.0, landmarks=landmarks.astype(np.float32))
