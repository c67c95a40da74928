"""Course galleries: what a classroom device needs to recognise a course's students offline.

    build_gallery(session, course_id) -> {course_id, version, sha256, model, dim, metric, threshold,
                                          students: [{student_id, student_number, embeddings, template}]}

Content: every student on the course's roster, by student number, with the embeddings of their
accepted photos (oldest first, float32 values as JSON numbers) and their template (the normalised
mean, see `server.faces.embeddings`; null for a student without photos, who is listed so that
the roster itself is part of the gallery). No names, no photos: a device needs neither.
A device scores a face against a student as the highest cosine similarity over the student's
embeddings and template, and accepts the best student when that reaches `threshold`.
`threshold` is the course's accepted calibrated one when an administrator accepted one for this
embedder (`server.school.calibration`), which then also adds `unknown_threshold` (below it: not a
student); otherwise the deployment's (GALLERY_THRESHOLD, else the embedder's `strict_threshold`).

`sha256` is the SHA-256 of the canonical JSON of the content: the object without `version` and
`sha256` (`unknown_threshold` only when present, so galleries without one keep their digest), keys
sorted, no whitespace, ASCII only; `canonical_sha256(gallery)` recomputes it, and a
device can check what it downloaded the same way (json.dumps(..., sort_keys=True,
separators=(",", ":"))). `version` counts the content's changes per course: every call compares the
content with the last published version and publishes the next version (a CourseGallery row, in the
caller's transaction) when it differs. Enrolment changes publish at once; roster changes made
elsewhere (or a student's deletion) publish at the latest when the gallery is next built, so a
device never receives content under a version that meant something else.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from flask import has_app_context
from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.enums import FaceKind
from server.db.models import Course, CourseGallery, CourseThreshold, FaceTemplate, Student, course_students
from server.enrolment.errors import NotFound
from server.faces import embeddings
from server.faces.model import DEFAULT_MODEL, gallery_model
from server.settings import current_settings
from shared.embed import embedder_id, require_embedder

CONTENT_KEYS = ("course_id", "model", "dim", "metric", "threshold", "students")
OPTIONAL_KEYS = ("unknown_threshold",)


def model_spec(model: str, threshold: float | None = None) -> dict[str, Any]:
    """The embedder id, dimension, metric and the 1:N threshold devices should apply."""
    spec = require_embedder(model)
    model = embedder_id(model)
    return {
        "model": model,
        "dim": int(spec["dim"]),  # type: ignore[call-overload]
        "metric": str(spec["metric"]),
        "threshold": float(threshold if threshold is not None else spec["strict_threshold"]),  # type: ignore[arg-type]
    }


def gallery_content(
    session: Session, course_id: int, model: str, threshold: float | None = None
) -> dict[str, Any]:
    model = embedder_id(model)  # a bare name means the embedder's current version
    roster = sorted(  # sorted here, not by the database's collation: the same order on every backend
        session.execute(
            select(Student.id, Student.student_number)
            .join(course_students, course_students.c.student_id == Student.id)
            .where(course_students.c.course_id == course_id)
        ).all(),
        key=lambda row: row.student_number,
    )
    vectors: dict[int, list[Any]] = defaultdict(list)
    ids = [row.id for row in roster]
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(FaceTemplate.student_id, FaceTemplate.embedding, FaceTemplate.dim)
            .where(
                FaceTemplate.student_id.in_(ids[start : start + 500]),
                FaceTemplate.kind == FaceKind.PHOTO,
                FaceTemplate.model == model,
            )
            .order_by(FaceTemplate.id)
        )
        for student_id, data, dim in rows:
            vectors[student_id].append(embeddings.from_bytes(data, dim))
    students = []
    for student_id, number in roster:
        own = vectors.get(student_id, [])
        students.append(
            {
                "student_id": student_id,
                "student_number": number,
                "embeddings": [embeddings.as_json(vector) for vector in own],
                "template": embeddings.as_json(embeddings.combine(own)) if own else None,
            }
        )
    content = {"course_id": course_id, **model_spec(model, threshold), "students": students}
    accepted = session.scalar(
        select(CourseThreshold).where(CourseThreshold.course_id == course_id, CourseThreshold.model == model)
    )
    if accepted is not None:  # the course's calibrated thresholds replace the deployment's
        content |= {"threshold": accepted.threshold, "unknown_threshold": accepted.unknown_threshold}
    return content


def canonical_sha256(gallery: dict[str, Any]) -> str:
    content = {key: gallery[key] for key in CONTENT_KEYS}
    content |= {key: gallery[key] for key in OPTIONAL_KEYS if gallery.get(key) is not None}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def latest(session: Session, course_id: int) -> CourseGallery | None:
    return session.scalars(
        select(CourseGallery)
        .where(CourseGallery.course_id == course_id)
        .order_by(CourseGallery.version.desc())
        .limit(1)
    ).first()


def configured() -> tuple[str, float | None]:
    """The app's embedder (`server.faces.model`) and GALLERY_THRESHOLD (defaults outside an app context)."""
    if not has_app_context():
        return DEFAULT_MODEL, None
    return gallery_model(), current_settings().enrolment.gallery_threshold


def build_gallery(
    session: Session, course_id: int, model: str | None = None, threshold: float | None = None
) -> dict[str, Any]:
    """The course's current gallery, publishing a new version first when its content changed.

    `model` and `threshold` default to the app's settings. Adds (never commits) a CourseGallery row
    when needed: the caller commits. The course row is locked for the comparison (SELECT ... FOR
    UPDATE), so two writers cannot publish one version twice. NotFound for an unknown course."""
    if model is None:
        model, configured_threshold = configured()
        threshold = configured_threshold if threshold is None else threshold
    locked = session.scalar(select(Course.id).where(Course.id == course_id).with_for_update())
    if locked is None:
        raise NotFound(gettext("no course with id %(id)s", id=course_id))
    gallery = gallery_content(session, course_id, model, threshold)
    digest = canonical_sha256(gallery)
    current = latest(session, course_id)
    if current is None or current.sha256 != digest:
        current = CourseGallery(
            course_id=course_id, version=(current.version + 1 if current else 1), sha256=digest
        )
        session.add(current)
        session.flush()
    return {**gallery, "version": current.version, "sha256": digest}


def publish(
    session: Session, course_ids: Iterable[int], model: str, threshold: float | None
) -> dict[int, dict[str, Any]]:
    """Publish the galleries of these courses (ascending ids, so concurrent writers lock in one order).
    Returns {course_id: {"version": ..., "sha256": ...}}."""
    published = {}
    for course_id in sorted(set(course_ids)):
        built = build_gallery(session, course_id, model, threshold)
        published[course_id] = {"version": built["version"], "sha256": built["sha256"]}
    return published


def courses_of(session: Session, student_ids: Iterable[int]) -> set[int]:
    ids = list(set(student_ids))
    found: set[int] = set()
    for start in range(0, len(ids), 500):
        found.update(
            session.scalars(
                select(course_students.c.course_id).where(
                    course_students.c.student_id.in_(ids[start : start + 500])
                )
            )
        )
    return found
