"""Enrolment operations as the API and the web pages both call them: the request's settings, the
app's face analyzer and the database session in, results out. The caller commits."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.db.enums import FaceKind
from server.db.models import Course, FaceTemplate, Student, User, course_students
from server.enrolment import gallery, photos
from server.enrolment.errors import EnrolmentError
from server.enrolment.importer import ImportSettings, run_import
from server.enrolment.roster_csv import parse_students_csv
from server.enrolment.verdict import PhotoVerdict, analyze_photo
from server.faces.analyzer import face_analyzer
from server.settings import current_settings
from server.uploads.archive import PhotoArchive
from server.uploads.files import Upload
from server.uploads.policy import upload_shape
from shared.embed import require_embedder


def model() -> str:
    return gallery.configured()[0]


def gallery_threshold() -> float | None:
    return gallery.configured()[1]


def match_threshold() -> float:
    """The same-person threshold used to warn about a photo unlike the student's others."""
    value = gallery_threshold()
    return value if value is not None else float(require_embedder(model())["threshold"])


def analyze(data: bytes, filename: str, size: int | None = None) -> PhotoVerdict:
    """The face gate's verdict with this app's settings (`size`: see `analyze_photo`)."""
    limits = current_settings().enrolment
    return analyze_photo(
        face_analyzer(),
        data,
        filename,
        max_bytes=limits.max_photo_bytes,
        max_side=limits.max_side_px,
        thumbnail_px=limits.thumbnail_px if limits.thumbnails else None,
        shape=upload_shape(),
        size=size,
    )


def screen(session: Session, student_id: int, uploads: list[Upload]) -> list[PhotoVerdict]:
    """The face gate's verdict on each upload, skipping files the student already has."""
    known = photos.enrolled_hashes(session, student_id)
    verdicts = []
    for upload in uploads:
        digest = hashlib.sha256(upload.data).hexdigest()
        if digest in known:
            verdicts.append(PhotoVerdict.already_enrolled(upload.filename, digest))
        else:
            verdicts.append(analyze(upload.data, upload.filename, upload.size))
    return verdicts


@dataclass
class UploadResult:
    outcomes: list[photos.Outcome]
    galleries: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def accepted(self) -> list[photos.Outcome]:
        return [outcome for outcome in self.outcomes if outcome.accepted]

    @property
    def rejected(self) -> list[photos.Outcome]:
        return [outcome for outcome in self.outcomes if not outcome.accepted]


def upload_photos(session: Session, student: Student, uploads: list[Upload], actor: User) -> UploadResult:
    """Check each photo with the face gate, enrol the accepted ones, publish the student's galleries."""
    if not uploads:
        raise EnrolmentError("no photo in the request: attach one or more image files")
    most = current_settings().enrolment.max_files_per_upload
    if len(uploads) > most:
        raise EnrolmentError(
            gettext(
                "%(count)s files in one request: send at most %(most)s photos at a time",
                count=len(uploads),
                most=most,
            )
        )
    verdicts = screen(session, student.id, uploads)
    outcomes = photos.enrol(
        session,
        student,
        verdicts,
        actor,
        model=model(),
        threshold=match_threshold(),
        max_photos=current_settings().enrolment.max_photos_per_student,
        rejections_kept=current_settings().enrolment.rejections_kept,
    )
    result = UploadResult(outcomes)
    if result.accepted:
        result.galleries = gallery.publish(
            session, gallery.courses_of(session, [student.id]), model(), gallery_threshold()
        )
    return result


def delete_photo(session: Session, photo: FaceTemplate, actor: User) -> dict[int, dict[str, Any]]:
    student_id = photo.student_id
    photos.delete_photo(session, photo, actor)
    return gallery.publish(session, gallery.courses_of(session, [student_id]), model(), gallery_threshold())


def import_enrolment(
    session: Session, course: Course, csv_data: bytes | None, zip_data: bytes | None, actor: User
) -> dict[str, Any]:
    """Check the CSV and the zip as wholes (refusing either writes nothing), then import."""
    limits = current_settings().enrolment
    students_csv = parse_students_csv(csv_data, limits.max_csv_rows) if csv_data else None
    archive = None
    if zip_data:
        archive = PhotoArchive(
            zip_data,
            max_members=limits.zip_max_members,
            max_total=limits.zip_max_total_bytes,
            max_ratio=limits.zip_max_ratio,
            max_member_bytes=limits.max_photo_bytes,
        )
    if archive is not None and any(entry.ignored is None for entry in archive.entries):
        face_analyzer()  # models missing: refuse before any work rather than reject every photo
    settings = ImportSettings(
        model=model(),
        threshold=match_threshold(),
        gallery_threshold=gallery_threshold(),
        max_photos=limits.max_photos_per_student,
        rejections_kept=limits.rejections_kept,
    )
    return run_import(session, course, actor, students_csv, archive, analyze, settings)


def course_gallery(session: Session, course: Course) -> dict[str, Any]:
    return gallery.build_gallery(session, course.id, model(), gallery_threshold())


@dataclass
class RosterLine:
    student: Student
    photos: int


def roster_with_counts(session: Session, course: Course) -> list[RosterLine]:
    counts = (
        select(FaceTemplate.student_id, func.count(FaceTemplate.id).label("photos"))
        .where(FaceTemplate.kind == FaceKind.PHOTO, FaceTemplate.model == model())
        .group_by(FaceTemplate.student_id)
        .subquery()
    )
    rows = session.execute(
        select(Student, func.coalesce(counts.c.photos, 0))
        .join(course_students, course_students.c.student_id == Student.id)
        .outerjoin(counts, counts.c.student_id == Student.id)
        .where(course_students.c.course_id == course.id)
        .order_by(Student.student_number)
    ).all()
    return [RosterLine(student, int(count)) for student, count in rows]
