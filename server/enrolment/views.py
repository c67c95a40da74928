"""Enrolment web pages (blueprint `enrolment`): the courses' enrolment overview, a course's roster
with photo counts and its bulk import, and a student's photos (upload, quality figures, refusals,
delete). Forms call the same services as the API. Success: a flash message and a redirect, except
the bulk import, whose report is the answer page. Refusal: the page again with a 4xx status and the
reason at the top."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext, ngettext
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from werkzeug import Response

from server.auth.decorators import role_required
from server.db import db_session
from server.db.enums import FaceKind, Role
from server.db.models import Course, FaceTemplate, course_students
from server.enrolment import access, gallery, photos, service
from server.enrolment.errors import EnrolmentError
from server.school.errors import SchoolError
from server.settings import current_settings
from server.uploads.files import files_in_request
from server.uploads.limits import limit
from server.uploads.reasons import reason_text

bp = Blueprint("enrolment", __name__)
instructor_page = role_required(Role.INSTRUCTOR)

PageResult = str | tuple[str, int] | Response


def sentence(message: str) -> str:
    """A service's message in the page's language (when the catalogue has it), as a sentence."""
    message = gettext(message)
    message = message[0].upper() + message[1:]
    return message if message.endswith((".", "!", "?")) else message + "."


def visible(lookup: Callable[[], Any]) -> Any:
    """The looked-up row, or the 404 page (another instructor's ids look unknown)."""
    try:
        return lookup()
    except (EnrolmentError, SchoolError) as error:
        abort(error.status, sentence(error.message))


def refused(error: Exception, page: Callable[[], str]) -> tuple[str, int]:
    db_session.rollback()
    if isinstance(error, IntegrityError):
        flash(gettext("The enrolment changed at the same time: send the form again."), "error")
        return page(), 409
    assert isinstance(error, EnrolmentError | SchoolError)
    flash(sentence(error.message), "error")
    for problem in getattr(error, "details", {}).get("problems", [])[1:]:
        flash(sentence(problem), "error")
    return page(), error.status


def limits() -> dict[str, Any]:
    enrolment = current_settings().enrolment
    return {
        "photo_bytes": enrolment.max_photo_bytes,
        "upload_bytes": enrolment.max_upload_bytes,
        "import_bytes": enrolment.max_import_bytes,
        "files": enrolment.max_files_per_upload,
        "photos": enrolment.max_photos_per_student,
    }


# --- courses -----------------------------------------------------------------------------------


@bp.get("/enrolment")
@instructor_page
def overview() -> str:
    courses = list(db_session.scalars(access.visible_courses(current_user)))
    ids = [course.id for course in courses]
    roster = (
        dict(
            db_session.execute(
                select(course_students.c.course_id, func.count())
                .where(course_students.c.course_id.in_(ids))
                .group_by(course_students.c.course_id)
            ).all()
        )
        if ids
        else {}
    )
    enrolled = (
        dict(
            db_session.execute(
                select(course_students.c.course_id, func.count(func.distinct(FaceTemplate.student_id)))
                .join(FaceTemplate, FaceTemplate.student_id == course_students.c.student_id)
                .where(course_students.c.course_id.in_(ids), FaceTemplate.kind == FaceKind.PHOTO)
                .group_by(course_students.c.course_id)
            ).all()
        )
        if ids
        else {}
    )
    versions = {course_id: gallery.latest(db_session, course_id) for course_id in ids}
    return render_template(
        "enrolment/index.html", courses=courses, roster=roster, enrolled=enrolled, versions=versions
    )


def course_page(course: Course) -> str:
    current = service.course_gallery(db_session, course)
    db_session.commit()  # a roster change made elsewhere may just have published a version
    return render_template(
        "enrolment/course.html",
        course=course,
        lines=service.roster_with_counts(db_session, course),
        gallery=current,
        limits=limits(),
    )


@bp.get("/courses/<int:course_id>/enrolment")
@instructor_page
def course_enrolment(course_id: int) -> str:
    course = visible(lambda: access.course_for(db_session, current_user, course_id))
    return course_page(course)


@bp.post("/courses/<int:course_id>/enrolment/import")
@instructor_page
def course_import(course_id: int) -> PageResult:
    course = visible(lambda: access.course_for(db_session, current_user, course_id))
    csv_files = files_in_request(("students",))
    zip_files = files_in_request(("photos",))
    try:
        report = service.import_enrolment(
            db_session,
            course,
            csv_files[0].data if csv_files else None,
            zip_files[0].data if zip_files else None,
            current_user,
        )
        db_session.commit()
    except (EnrolmentError, SchoolError, IntegrityError) as error:
        return refused(error, lambda: course_page(course))
    return render_template("enrolment/report.html", course=course, report=report, reason_text=reason_text)


limit("enrolment.course_import", "ENROLMENT_MAX_IMPORT_BYTES", "a bulk import")


# --- a student's photos ------------------------------------------------------------------------


def student_page(student_id: int) -> str:
    student = visible(lambda: access.student_for(db_session, current_user, student_id))
    return render_template(
        "enrolment/student_photos.html",
        student=student,
        photos=photos.photos_of(db_session, student.id),
        rejections=photos.recent_rejections(db_session, student.id),
        reason_text=reason_text,
        courses=[
            course
            for course in student.courses
            if access.is_admin(current_user) or course.instructor_id == current_user.id
        ],
        limits=limits(),
    )


@bp.get("/students/<int:student_id>/photos")
@instructor_page
def student_photos(student_id: int) -> str:
    return student_page(student_id)


@bp.post("/students/<int:student_id>/photos")
@instructor_page
def student_upload(student_id: int) -> PageResult:
    student = visible(lambda: access.student_for(db_session, current_user, student_id))
    uploads = files_in_request(("photos",), cap=current_settings().enrolment.max_photo_bytes)
    try:
        result = service.upload_photos(db_session, student, uploads, current_user)
        db_session.commit()
    except (EnrolmentError, SchoolError, IntegrityError) as error:
        return refused(error, lambda: student_page(student_id))
    if result.accepted:
        flash(ngettext("%(num)d photo accepted.", "%(num)d photos accepted.", len(result.accepted)), "info")
    for outcome in result.rejected:
        reason = reason_text(outcome.reason)
        flash(gettext("%(file)s refused: %(reason)s.", file=outcome.filename, reason=reason), "error")
    return redirect(url_for("enrolment.student_photos", student_id=student.id), 303)


limit("enrolment.student_upload", "ENROLMENT_MAX_UPLOAD_BYTES", "one upload of photos")


@bp.post("/students/<int:student_id>/photos/<int:photo_id>/delete")
@instructor_page
def student_photo_delete(student_id: int, photo_id: int) -> PageResult:
    _student, photo = visible(lambda: access.photo_for(db_session, current_user, student_id, photo_id))
    name = photo.filename or f"photo {photo.id}"
    try:
        service.delete_photo(db_session, photo, current_user)
        db_session.commit()
    except (EnrolmentError, SchoolError, IntegrityError) as error:
        return refused(error, lambda: student_page(student_id))
    flash(gettext("%(name)s deleted, with its embedding.", name=name), "info")
    return redirect(url_for("enrolment.student_photos", student_id=student_id), 303)
