"""A student's enrolment photos: accept what passed the face gate, remember what did not and why,
delete, and keep the student's combined template current.

Only what recognition and the instructor need is stored per accepted photo: the embedding, the quality
figures, the file name, the photo's SHA-256 (to spot the same file twice) and, unless the operator
turns thumbnails off, a small JPEG of the aligned face. The uploaded photo itself is never stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.audit import record
from server.db.enums import FaceKind
from server.db.models import EnrolmentRejection, FaceTemplate, Student, User
from server.enrolment.verdict import PhotoVerdict
from server.faces import embeddings

PURPOSE = "attendance-enrolment"


@dataclass
class Outcome:
    """What happened to one uploaded photo."""

    filename: str
    accepted: bool
    reason: str | None = None
    quality: dict[str, Any] | None = None
    photo: FaceTemplate | None = None
    warnings: list[str] = field(default_factory=list)


def photos_of(session: Session, student_id: int, model: str | None = None) -> list[FaceTemplate]:
    query = select(FaceTemplate).where(
        FaceTemplate.student_id == student_id, FaceTemplate.kind == FaceKind.PHOTO
    )
    if model is not None:
        query = query.where(FaceTemplate.model == model)
    return list(session.scalars(query.order_by(FaceTemplate.id)))


def enrolled_hashes(session: Session, student_id: int) -> set[str]:
    """SHA-256 of the student's enrolled photos: a file sent again needs no face analysis."""
    query = select(FaceTemplate.source_sha256).where(
        FaceTemplate.student_id == student_id, FaceTemplate.kind == FaceKind.PHOTO
    )
    return {digest for digest in session.scalars(query) if digest}


def recent_rejections(session: Session, student_id: int) -> list[EnrolmentRejection]:
    query = (
        select(EnrolmentRejection)
        .where(EnrolmentRejection.student_id == student_id)
        .order_by(EnrolmentRejection.created_at.desc(), EnrolmentRejection.id.desc())
    )
    return list(session.scalars(query))


def enrol(
    session: Session,
    student: Student,
    verdicts: list[PhotoVerdict],
    actor: User | None,
    *,
    model: str,
    threshold: float,
    max_photos: int,
    rejections_kept: int,
) -> list[Outcome]:
    """Turn verdicts into photos (accepted ones) and remembered rejections; refresh the template.

    Beyond the face gate, a photo is refused when it is already enrolled for this student or for
    another one (the same file under two students is a mislabelling), or when the student already
    has `max_photos`. An accepted photo that looks unlike the student's other photos is kept with a
    warning: people change, but a wrongly named file in a bulk import looks exactly like this.
    """
    existing = photos_of(session, student.id, model)
    known = {photo.source_sha256 for photo in existing}
    vectors = [embeddings.from_bytes(photo.embedding, photo.dim) for photo in existing]
    count = len(existing)
    outcomes: list[Outcome] = []
    for verdict in verdicts:
        outcome = judge(session, student, verdict, known, count, max_photos)
        if outcome is None:
            assert verdict.embedding is not None
            warnings = consistency_warnings(verdict.embedding, vectors, threshold)
            photo = FaceTemplate(
                student_id=student.id,
                kind=FaceKind.PHOTO,
                purpose=PURPOSE,
                embedding=embeddings.to_bytes(verdict.embedding),
                dim=int(verdict.embedding.shape[0]),
                model=model,
                quality={**(verdict.quality or {}), "warnings": warnings},
                source_sha256=verdict.sha256,
                filename=verdict.filename[-255:],
                thumbnail=verdict.thumbnail,
            )
            session.add(photo)
            session.flush()
            record(
                session,
                actor,
                "enrolment.photo_added",
                "face_template",
                photo.id,
                after={"student_id": student.id, "filename": photo.filename, "sha256": verdict.sha256},
            )
            known.add(verdict.sha256)
            vectors.append(verdict.embedding)
            count += 1
            outcome = Outcome(verdict.filename, True, quality=photo.quality, photo=photo, warnings=warnings)
        else:
            session.add(
                EnrolmentRejection(
                    student_id=student.id,
                    filename=verdict.filename[-255:],
                    source_sha256=verdict.sha256,
                    reason=outcome.reason or "rejected",
                    quality=outcome.quality,
                    actor_id=actor.id if actor is not None else None,
                )
            )
        outcomes.append(outcome)
    if any(outcome.accepted for outcome in outcomes):
        refresh_template(session, student.id, model)
    session.flush()
    prune_rejections(session, student.id, rejections_kept)
    return outcomes


def judge(
    session: Session,
    student: Student,
    verdict: PhotoVerdict,
    known: set[str | None],
    count: int,
    max_photos: int,
) -> Outcome | None:
    """The refusal for this verdict, or None when it becomes a photo."""
    if not verdict.accepted:
        return Outcome(verdict.filename, False, verdict.reason, verdict.quality)
    if verdict.sha256 in known:
        return Outcome(
            verdict.filename, False, "this photo is already enrolled for this student", verdict.quality
        )
    elsewhere = session.scalar(
        select(FaceTemplate.id)
        .where(
            FaceTemplate.source_sha256 == verdict.sha256,
            FaceTemplate.kind == FaceKind.PHOTO,
            FaceTemplate.student_id != student.id,
        )
        .limit(1)
    )
    if elsewhere is not None:
        return Outcome(
            verdict.filename,
            False,
            "this exact photo is already enrolled for another student: check that it shows this student",
            verdict.quality,
        )
    if count >= max_photos:
        return Outcome(
            verdict.filename,
            False,
            f"the student already has {max_photos} photos: delete one first",
            verdict.quality,
        )
    return None


def consistency_warnings(vector: Any, others: list[Any], threshold: float) -> list[str]:
    best = embeddings.best_similarity(vector, others)
    if best is None or best >= threshold:
        return []
    return [
        f"looks unlike this student's other photos (similarity {best:.2f} < {threshold:.2f}): "
        "check that it shows the same person"
    ]


def delete_photo(session: Session, photo: FaceTemplate, actor: User | None) -> None:
    record(
        session,
        actor,
        "enrolment.photo_deleted",
        "face_template",
        photo.id,
        before={"student_id": photo.student_id, "filename": photo.filename, "sha256": photo.source_sha256},
    )
    student_id, model = photo.student_id, photo.model
    session.delete(photo)
    session.flush()
    refresh_template(session, student_id, model)


def refresh_template(session: Session, student_id: int, model: str) -> FaceTemplate | None:
    """Replace the student's template for `model` with the combination of their current photos."""
    session.execute(
        delete(FaceTemplate).where(
            FaceTemplate.student_id == student_id,
            FaceTemplate.kind == FaceKind.TEMPLATE,
            FaceTemplate.model == model,
        )
    )
    photos = photos_of(session, student_id, model)
    if not photos:
        return None
    vector = embeddings.combine([embeddings.from_bytes(photo.embedding, photo.dim) for photo in photos])
    template = FaceTemplate(
        student_id=student_id,
        kind=FaceKind.TEMPLATE,
        purpose=PURPOSE,
        embedding=embeddings.to_bytes(vector),
        dim=int(vector.shape[0]),
        model=model,
        quality={"photos": len(photos), "photo_ids": [photo.id for photo in photos]},
    )
    session.add(template)
    session.flush()
    return template


def prune_rejections(session: Session, student_id: int, keep: int) -> None:
    stale = list(
        session.scalars(
            select(EnrolmentRejection.id)
            .where(EnrolmentRejection.student_id == student_id)
            .order_by(EnrolmentRejection.created_at.desc(), EnrolmentRejection.id.desc())
            .offset(keep)
        )
    )
    if stale:
        session.execute(delete(EnrolmentRejection).where(EnrolmentRejection.id.in_(stale)))
