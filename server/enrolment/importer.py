"""Bulk enrolment of a course: a students CSV and/or a zip of photos named by student number.

All or nothing for the structure: a CSV or zip refused as a whole (see `roster_csv` and `archive`)
writes nothing. Otherwise the import is one transaction and the report says, per CSV row and per zip
file, what was kept and what was not and why:
* every CSV row is kept: the student is created (or found by student number; an existing student's
  name and email are not changed, a difference is noted) and put on the course's roster;
* every zip file is accepted (a photo of the student), rejected (the reason: unknown student number,
  the face gate's verdict, a duplicate, too large, unreadable) or ignored (not a photo, a nested
  archive, a hidden file). Photos may name students of the CSV or students already on the roster;
* a student left without any accepted photo is noted: devices cannot recognise them yet.
A failure in the middle (the database, a bug) rolls everything back: nothing is half-imported.

Zip names: `<student_number>.jpg`, `<student_number>_<n>.jpg` or `<student_number>/<anything>.jpg`
(any photo extension, any enclosing folder; student numbers match regardless of case). A folder
named by a known student number wins; then the whole file name; then the name without its `_<n>`
suffix (student numbers may contain '_').
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.audit import record
from server.db.enums import FaceKind
from server.db.models import Course, FaceTemplate, Student, User, course_students
from server.enrolment import gallery, photos
from server.enrolment.errors import EnrolmentError
from server.enrolment.roster_csv import CsvStudent, StudentsCsv
from server.enrolment.verdict import PhotoVerdict
from server.school.access import visible_student_ids
from server.uploads.archive import MemberError, PhotoArchive

_NUMBERED = re.compile(r"(.+)_\d+")


@dataclass
class ImportSettings:
    model: str
    threshold: float
    gallery_threshold: float | None
    max_photos: int
    rejections_kept: int


def student_number_for(path: PurePosixPath, known: set[str]) -> str | None:
    """The known (upper-case) student number a zip member's name refers to, or None."""
    folder = path.parent.name.upper()
    if folder and folder in known:
        return folder
    stem = path.stem.upper()
    if stem in known:
        return stem
    match = _NUMBERED.fullmatch(stem)
    if match and match.group(1) in known:
        return match.group(1)
    return None


def guessed_number(path: PurePosixPath) -> str:
    if path.parent.name:
        return path.parent.name
    match = _NUMBERED.fullmatch(path.stem)
    return match.group(1) if match else path.stem


Verdicts = dict[str, list[tuple[dict[str, Any], PhotoVerdict]]]


def run_import(
    session: Session,
    course: Course,
    actor: User | None,
    students_csv: StudentsCsv | None,
    archive: PhotoArchive | None,
    analyze: Callable[[bytes, str], PhotoVerdict],
    settings: ImportSettings,
) -> dict[str, Any]:
    """Import into `course` (already parsed and checked inputs); returns the report. The caller commits."""
    if students_csv is None and archive is None:
        raise EnrolmentError("send a students CSV ('students'), a zip of photos ('photos'), or both")
    rows = students_csv.students if students_csv else []
    existing = find_students(session, [row.student_number for row in rows])
    refuse_hidden_students(session, actor, existing)
    roster = {student.student_number.upper(): student for student in course.students}
    known = {row.student_number for row in rows} | set(roster)
    enrolled = enrolled_hashes(session, {**roster, **existing})

    files, verdicts = screen_archive(archive, known, enrolled, analyze) if archive else ([], {})
    report_rows, added, of_csv = apply_roster(session, course, rows, existing, roster)
    by_number = {**roster, **of_csv}

    changed: set[int] = set()
    for number, pairs in verdicts.items():
        student = by_number[number]
        outcomes = photos.enrol(
            session,
            student,
            [verdict for _item, verdict in pairs],
            actor,
            model=settings.model,
            threshold=settings.threshold,
            max_photos=settings.max_photos,
            rejections_kept=settings.rejections_kept,
        )
        for (item, _verdict), outcome in zip(pairs, outcomes, strict=True):
            item["status"] = "accepted" if outcome.accepted else "rejected"
            item["reason"] = outcome.reason
            item["photo_id"] = outcome.photo.id if outcome.photo is not None else None
            item["warnings"] = outcome.warnings
            if outcome.accepted:
                changed.add(student.id)

    counts = photo_counts(session, [row["student_id"] for row in report_rows], settings.model)
    for row in report_rows:
        mine = [item for item in files if item["student_number"] == row["student_number"]]
        row["photos_accepted"] = sum(item["status"] == "accepted" for item in mine)
        row["photos_rejected"] = sum(item["status"] == "rejected" for item in mine)
        if not counts.get(row["student_id"]):
            row["notes"].append("no accepted photo yet: devices cannot recognise this student")
    summary = {
        "students_in_csv": len(rows),
        "students_created": sum(row["student"] == "created" for row in report_rows),
        "added_to_roster": len(added),
        "photos_accepted": sum(item["status"] == "accepted" for item in files),
        "photos_rejected": sum(item["status"] == "rejected" for item in files),
        "files_ignored": sum(item["status"] == "ignored" for item in files),
    }
    record(session, actor, "enrolment.import", "course", course.id, after=summary)
    if added:  # the same roster entry as any other way of adding students (server.school.students)
        numbers = [row["student_number"] for row in report_rows if row["roster"] == "added"]
        record(
            session,
            actor,
            "roster.add",
            "course",
            course.id,
            before={"roster_size": len(roster)},
            after={"student_numbers": numbers},
            reason="enrolment import",
        )
        session.expire(course, ["students"])
    courses = {course.id} | gallery.courses_of(session, changed)
    published = gallery.publish(session, courses, settings.model, settings.gallery_threshold)
    return {
        "course_id": course.id,
        "summary": summary,
        "rows": report_rows,
        "files": files,
        "ignored_columns": students_csv.ignored_columns if students_csv else [],
        "gallery": published[course.id],
    }


def screen_archive(
    archive: PhotoArchive,
    known: set[str],
    enrolled: dict[str, set[str]],
    analyze: Callable[[bytes, str], PhotoVerdict],
) -> tuple[list[dict[str, Any]], Verdicts]:
    """Every zip file's report line, and the face gate's verdicts by student number (no writes)."""
    files: list[dict[str, Any]] = []
    verdicts: Verdicts = defaultdict(list)
    analysed: dict[str, PhotoVerdict] = {}
    for entry in archive.entries:
        item: dict[str, Any] = {
            "file": entry.name,
            "student_number": None,
            "status": "ignored",
            "reason": entry.ignored,
            "photo_id": None,
            "warnings": [],
        }
        files.append(item)
        if entry.ignored:
            continue
        number = student_number_for(entry.path, known)
        item["student_number"] = number
        item["status"] = "rejected"
        if number is None:
            item["reason"] = (
                f"unknown student number {guessed_number(entry.path)!r}: not in the CSV nor on the course's "
                "roster (name files <student_number>.jpg, <student_number>_<n>.jpg or <student_number>/...)"
            )
            continue
        if entry.error:
            item["reason"] = entry.error
            continue
        try:
            data = archive.read(entry)
        except MemberError as exc:
            item["reason"] = exc.message
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest in enrolled.get(number, ()):
            verdict = PhotoVerdict.already_enrolled(entry.name, digest)
        elif digest in analysed:  # the same file twice in the zip: one analysis
            verdict = replace(analysed[digest], filename=entry.name)
        else:
            verdict = analysed[digest] = analyze(data, entry.name)
        verdicts[number].append((item, verdict))
    return files, verdicts


def apply_roster(
    session: Session,
    course: Course,
    rows: list[CsvStudent],
    existing: dict[str, Student],
    roster: dict[str, Student],
) -> tuple[list[dict[str, Any]], list[int], dict[str, Student]]:
    """Create the CSV's new students and put everyone of the CSV on the course's roster.
    Returns the report rows, the ids added to the roster and the CSV's students by number."""
    report_rows: list[dict[str, Any]] = []
    added: list[int] = []
    students: dict[str, Student] = {}
    for row in rows:
        student = existing.get(row.student_number)
        notes: list[str] = []
        created = student is None
        if student is None:
            student = Student(student_number=row.student_number, name=row.name, email=row.email)
            session.add(student)
            session.flush()
        else:
            if student.name != row.name:
                notes.append(f"the name on record is {student.name!r}: kept")
            if row.email and student.email != row.email:
                if student.email is None:
                    student.email = row.email
                else:
                    notes.append(f"the email on record is {student.email!r}: kept")
        students[row.student_number] = student
        on_roster = row.student_number in roster
        if not on_roster:
            session.execute(course_students.insert().values(course_id=course.id, student_id=student.id))
            added.append(student.id)
        report_rows.append(
            {
                "line": row.line,
                "student_number": row.student_number,
                "name": row.name,
                "student_id": student.id,
                "student": "created" if created else "existing",
                "roster": "already_enrolled" if on_roster else "added",
                "photos_accepted": 0,
                "photos_rejected": 0,
                "notes": notes,
            }
        )
    return report_rows, added, students


def refuse_hidden_students(session: Session, actor: User | None, existing: dict[str, Student]) -> None:
    """An instructor's CSV may name only new students or students they already see: a number that
    belongs to another instructor's student fails the whole import (nothing written), naming only
    the numbers from the CSV, never the name, email or photos on record."""
    if actor is None:
        return
    allowed = visible_student_ids(session, actor, [student.id for student in existing.values()])
    hidden = sorted(number for number, student in existing.items() if student.id not in allowed)
    if hidden:
        shown = ", ".join(hidden[:20]) + (f" and {len(hidden) - 20} more" if len(hidden) > 20 else "")
        raise EnrolmentError(
            f"{len(hidden)} student number(s) of the CSV are taken by students outside your courses: "
            f"{shown}; an administrator can add them to this course; nothing was imported"
        )


def find_students(session: Session, numbers: list[str]) -> dict[str, Student]:
    found: dict[str, Student] = {}
    for start in range(0, len(numbers), 500):
        chunk = numbers[start : start + 500]
        found.update(
            (student.student_number, student)
            for student in session.scalars(select(Student).where(Student.student_number.in_(chunk)))
        )
    return found


def enrolled_hashes(session: Session, students: dict[str, Student]) -> dict[str, set[str]]:
    """Per student number, the SHA-256 of the photos already enrolled (sent again: no analysis)."""
    number_of = {student.id: number for number, student in students.items()}
    ids = list(number_of)
    hashes: dict[str, set[str]] = defaultdict(set)
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(FaceTemplate.student_id, FaceTemplate.source_sha256).where(
                FaceTemplate.student_id.in_(ids[start : start + 500]),
                FaceTemplate.kind == FaceKind.PHOTO,
                FaceTemplate.source_sha256.is_not(None),
            )
        )
        for student_id, digest in rows:
            hashes[number_of[student_id]].add(digest)
    return hashes


def photo_counts(session: Session, student_ids: list[int], model: str) -> dict[int, int]:
    counts: dict[int, int] = {}
    for start in range(0, len(student_ids), 500):
        rows = session.execute(
            select(FaceTemplate.student_id, func.count(FaceTemplate.id))
            .where(
                FaceTemplate.student_id.in_(student_ids[start : start + 500]),
                FaceTemplate.kind == FaceKind.PHOTO,
                FaceTemplate.model == model,
            )
            .group_by(FaceTemplate.student_id)
        )
        counts.update({student_id: count for student_id, count in rows})
    return counts
