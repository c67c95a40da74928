"""Learn from review (Frigate's "train" tab): a face the instructor has identified becomes an
enrolment photo of the student, so that devices recognise them next time.

The crop goes through exactly the gate an uploaded enrolment photo goes through
(`server.enrolment.service.analyze` and `server.enrolment.photos.enrol`: one face, strict size,
detector score, sharpness and pose, not already enrolled, not over the photo limit); a crop that
fails is refused with the gate's reasons (422) and nothing is written. An accepted one publishes
the student's course galleries (their version moves, devices fetch it), is audited on the
session's trail and can be removed again (`unlearn`), which deletes the enrolment photo and
publishes again.
"""

from __future__ import annotations

from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.attendance.review import ENTITY, ReviewError
from server.attendance.service import roster_ids
from server.audit import record
from server.db.enums import ReviewDecision
from server.db.models import LearnedFace, LectureSession, Sighting, Student, UnknownFaceReview, User
from server.enrolment import gallery, photos, service
from server.settings import current_settings
from server.uploads.files import Upload

PURPOSE = "attendance-review"


def best_crop(db: Session, review: UnknownFaceReview) -> Sighting | None:
    """The track's latest sighting with a crop, whoever it is labelled as now: each event carries the
    track's best view so far (docs/mqtt.md), so the latest one carries the best overall."""
    return db.scalars(
        select(Sighting)
        .where(
            Sighting.session_id == review.session_id,
            Sighting.device_id == review.device_id,
            Sighting.track_id == review.track_id,
            Sighting.thumbnail.is_not(None),
        )
        .order_by(Sighting.captured_at.desc(), Sighting.id.desc())
        .limit(1)
    ).first()


def learn_from_review(db: Session, review: UnknownFaceReview, actor: User) -> LearnedFace:
    """Add an assigned unknown face's best crop to its student's enrolment."""
    if review.decision != ReviewDecision.ASSIGNED or review.student is None:
        raise ReviewError("assign this face to a student first; only an identified face can be learned", 409)
    sighting = best_crop(db, review)
    if sighting is None:
        raise ReviewError("this face has no crop to learn from (the device sent none)", 409)
    return learn(db, sighting, review.student, review.session, actor)


def learn_from_sighting(db: Session, sighting: Sighting, actor: User) -> LearnedFace:
    """Add a recognised student's crop (a sighting's thumbnail) to their enrolment."""
    lecture = sighting.session
    if sighting.student is None or lecture is None:
        raise ReviewError("this sighting is of an unknown face: assign it first, then learn it", 409)
    if sighting.student_id not in set(roster_ids(db, lecture.course_id)):
        raise ReviewError(
            gettext(
                "student %(id)s is not on the roster of %(course)s: a face is learned for the course's own"
                " students only",
                id=sighting.student_id,
                course=lecture.course.code,
            )
        )
    if sighting.thumbnail is None:
        raise ReviewError("this sighting has no crop to learn from (the device sent none)", 409)
    return learn(db, sighting, sighting.student, lecture, actor)


def learn(
    db: Session, sighting: Sighting, student: Student, lecture: LectureSession, actor: User
) -> LearnedFace:
    """The gate, the enrolment photo, the galleries, the audit entry: all or nothing (the caller commits)."""
    assert sighting.thumbnail is not None
    name = f"review-session{lecture.id}-sighting{sighting.id}.jpg"
    verdict = service.screen(db, student.id, [Upload(name, sighting.thumbnail)])[0]
    outcome = photos.enrol(
        db,
        student,
        [verdict],
        actor,
        model=service.model(),
        threshold=service.match_threshold(),
        max_photos=current_settings().enrolment.max_photos_per_student,
        rejections_kept=current_settings().enrolment.rejections_kept,
    )[0]
    if not outcome.accepted or outcome.photo is None:
        raise ReviewError(
            gettext(
                "this face cannot be added to %(name)s's enrolment: %(reason)s",
                name=student.name,
                reason=outcome.reason,
            ),
            422,
        )
    outcome.photo.purpose = PURPOSE
    learned = LearnedFace(
        template_id=outcome.photo.id,
        student_id=student.id,
        session_id=lecture.id,
        sighting_id=sighting.id,
        actor_id=actor.id,
    )
    db.add(learned)
    db.flush()
    galleries = gallery.publish(
        db, gallery.courses_of(db, [student.id]), service.model(), service.gallery_threshold()
    )
    record(
        db,
        actor,
        "attendance.face_learned",
        ENTITY,
        lecture.id,
        after={
            "learned_face_id": learned.id,
            "template_id": outcome.photo.id,
            "sighting_id": sighting.id,
            "student_id": student.id,
            "student_number": student.student_number,
            "warnings": outcome.warnings,
            "galleries": {str(cid): g["version"] for cid, g in galleries.items()},
        },
    )
    return learned


def unlearn(db: Session, learned: LearnedFace, actor: User) -> dict[int, int]:
    """Remove a learned face from the enrolment (and its galleries); returns course id -> gallery version."""
    student, template, session_id = learned.student, learned.template, learned.session_id
    before = {
        "learned_face_id": learned.id,
        "template_id": template.id,
        "sighting_id": learned.sighting_id,
        "student_id": student.id,
        "student_number": student.student_number,
    }
    db.delete(learned)
    db.flush()
    galleries = service.delete_photo(db, template, actor)
    versions = {cid: int(g["version"]) for cid, g in galleries.items()}
    if session_id is not None:
        record(
            db,
            actor,
            "attendance.face_unlearned",
            ENTITY,
            session_id,
            before=before,
            after={"galleries": {str(cid): v for cid, v in versions.items()}},
        )
    return versions


def learned_in(db: Session, lecture: LectureSession) -> list[LearnedFace]:
    """The faces learned from this session's review, oldest first."""
    return list(
        db.scalars(select(LearnedFace).where(LearnedFace.session_id == lecture.id).order_by(LearnedFace.id))
    )
