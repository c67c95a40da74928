"""Web pages of school management (blueprint `school`): courses with their roster and schedule,
students, and the administrators' classrooms-and-devices page.

Every form posts to a small handler that converts the form into the API's request shape and
calls the same service as the API, so both accept and refuse the same input with the same
sentence. Success: a flash message and a redirect (post/redirect/get). Failure: the page again
with status 4xx, the sentence at the top and what was typed kept in the form.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext, ngettext
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug import Response

from server.api.io import int_text
from server.attendance.refresh import session_scheduled
from server.auth.decorators import role_required
from server.db import db_session, utcnow
from server.db.enums import Role
from server.db.models import Classroom, Course, Device, LectureSession, Student, User
from server.errors import CONCURRENT_CHANGE
from server.i18n import format_datetime, zone_name
from server.school import access, calibration, courses, rooms, schedule, students
from server.school.api import search
from server.school.errors import Invalid, SchoolError
from server.school.fields import split_numbers
from server.school.times import WEEKDAYS, at_local, clock_time, local_date, zone, zone_names

bp = Blueprint("school", __name__)

instructor_page = role_required(Role.INSTRUCTOR)
admin_page = role_required(Role.ADMIN)

PageResult = str | tuple[str, int] | Response


# --- helpers -----------------------------------------------------------------------------------


def attempt(change: Callable[[], Response], page: Callable[[], str]) -> PageResult:
    """Run `change` and commit; on a refusal roll back and show `page` with the reason."""
    try:
        result = change()
        db_session.commit()
        return result
    except SchoolError as error:
        db_session.rollback()
        flash(sentence(error.message), "error")
        return page(), error.status
    except IntegrityError:
        db_session.rollback()
        flash(sentence(CONCURRENT_CHANGE), "error")
        return page(), 409


def form_id(name: str) -> Any:
    """A form field holding an id: '' -> None, digits -> int, anything else as typed (refused later)."""
    raw = request.form.get(name, "").strip()
    if not raw:
        return None
    number = int_text(raw)  # not int(): '²'.isdigit() is true, and 5,000 digits raise
    return raw if number is None else number


def form_int(name: str, default: int | None = None) -> Any:
    raw = request.form.get(name, "").strip()
    if not raw:
        return default
    number = int_text(raw)
    return raw if number is None else number


def sentence(message: str) -> str:
    """A service's message in the page's language, as a sentence (capital first letter)."""
    text = gettext(message)
    return text[:1].upper() + text[1:]


def period_lengths(lecture: LectureSession) -> list[int]:
    """The minutes of each period of `lecture`: `period_minutes` each, the last one cut at the end
    (so a 50-minute lecture with 60-minute periods has one period of 50 minutes)."""
    total = round((lecture.ends_at - lecture.starts_at).total_seconds() / 60)
    full, rest = divmod(total, lecture.period_minutes)
    return [lecture.period_minutes] * full + ([rest] if rest else []) or [total]


def course_or_404(course_id: int) -> Course:
    try:
        return access.course_for(db_session, current_user, course_id)
    except SchoolError as error:
        abort(404, sentence(error.message) + ".")


def student_or_404(student_id: int) -> Student:
    try:
        return access.student_for(db_session, current_user, student_id)
    except SchoolError as error:
        abort(404, sentence(error.message) + ".")


def instructors() -> list[User]:
    return list(
        db_session.scalars(
            select(User)
            .where(User.role.in_([Role.INSTRUCTOR, Role.ADMIN]), User.active.is_(True))
            .order_by(User.display_name, User.email)
        )
    )


# --- courses -----------------------------------------------------------------------------------


def courses_page(values: Mapping[str, Any] | None = None) -> str:
    rows = list(db_session.scalars(access.visible_courses(current_user)))
    sizes = courses.roster_sizes(db_session, [c.id for c in rows])
    upcoming = {c.id: next(iter(schedule.sessions_between(db_session, c, utcnow())), None) for c in rows}
    return render_template(
        "school/courses.html",
        courses=rows,
        sizes=sizes,
        upcoming=upcoming,
        instructors=instructors() if access.is_admin(current_user) else [],
        values=values or {},
    )


@bp.get("/courses")
@instructor_page
def course_list() -> str:
    return courses_page()


@bp.post("/courses")
@admin_page
def course_create() -> PageResult:
    def change() -> Response:
        body = {
            "code": request.form.get("code", ""),
            "title": request.form.get("title", ""),
            "instructor_id": form_id("instructor_id"),
        }
        course = courses.create_course(db_session, current_user, body)
        flash(gettext("Course %(code)s created.", code=course.code), "info")
        return redirect(url_for("school.course_detail", course_id=course.id))

    return attempt(change, lambda: courses_page(request.form))


def course_page(course: Course, section: str = "", values: Mapping[str, Any] | None = None) -> str:
    sessions = schedule.sessions_between(db_session, course)
    now = utcnow()
    faces = students.face_counts(db_session, [s.id for s in course.students])
    return render_template(
        "school/course.html",
        course=course,
        roster=course.students,
        faces=faces,
        upcoming=[s for s in sessions if s.ends_at > now],
        past=[s for s in sessions if s.ends_at <= now],
        periods=period_lengths,
        classrooms=list(db_session.scalars(select(Classroom).order_by(Classroom.name))),
        instructors=instructors() if access.is_admin(current_user) else [],
        weekdays=WEEKDAYS,
        zones=zone_names(),
        default_zone=zone_name(current_app.config),
        section=section,
        values=values or {},
        calibration=calibration.calibration_json(db_session, course),
    )


@bp.get("/courses/<int:course_id>")
@instructor_page
def course_detail(course_id: int) -> str:
    return course_page(course_or_404(course_id))


@bp.post("/courses/<int:course_id>/edit")
@instructor_page
def course_edit(course_id: int) -> PageResult:
    course = course_or_404(course_id)

    def change() -> Response:
        body: dict[str, Any] = {"title": request.form.get("title", "")}
        if access.is_admin(current_user):
            body |= {"code": request.form.get("code", ""), "instructor_id": form_id("instructor_id")}
        courses.update_course(db_session, current_user, course, body)
        flash(gettext("Course saved."), "info")
        return redirect(url_for("school.course_detail", course_id=course.id))

    return attempt(change, lambda: course_page(course, "edit", request.form))


@bp.post("/courses/<int:course_id>/delete")
@admin_page
def course_delete(course_id: int) -> PageResult:
    course = course_or_404(course_id)
    code = course.code

    def change() -> Response:
        courses.delete_course(db_session, current_user, course)
        flash(gettext("Course %(code)s deleted.", code=code), "info")
        return redirect(url_for("school.course_list"))

    return attempt(change, lambda: course_page(course))


@bp.post("/courses/<int:course_id>/calibration/accept")
@admin_page
def calibration_accept(course_id: int) -> PageResult:
    """Use the course's calibrated thresholds (the form carries the threshold the admin saw)."""
    course = course_or_404(course_id)

    def change() -> Response:
        expected = request.form.get("threshold", "").strip()
        try:
            shown = float(expected) if expected else None
        except ValueError:
            raise Invalid("the threshold shown must be a number: reload the page") from None
        if shown is not None and not -10 <= shown <= 10:
            raise Invalid("the threshold shown must be between -10 and 10: reload the page")
        confirm = request.form.get("confirm_below_global") == "yes"
        row = calibration.accept(db_session, current_user, course, confirm, shown)
        flash(
            gettext(
                "%(code)s now uses its calibrated threshold %(threshold)s on its devices.",
                code=course.code,
                threshold=f"{row.threshold:g}",
            ),
            "info",
        )
        return redirect(url_for("school.course_detail", course_id=course.id, _anchor="calibration"))

    return attempt(change, lambda: course_page(course, "calibration"))


@bp.post("/courses/<int:course_id>/calibration/revert")
@admin_page
def calibration_revert(course_id: int) -> PageResult:
    course = course_or_404(course_id)

    def change() -> Response:
        calibration.revert(db_session, current_user, course)
        flash(
            gettext("%(code)s uses the global threshold again; devices get it next.", code=course.code),
            "info",
        )
        return redirect(url_for("school.course_detail", course_id=course.id, _anchor="calibration"))

    return attempt(change, lambda: course_page(course, "calibration"))


@bp.post("/courses/<int:course_id>/roster/add")
@instructor_page
def roster_add(course_id: int) -> PageResult:
    course = course_or_404(course_id)

    def change() -> Response:
        numbers = split_numbers(request.form.get("student_numbers", ""))
        if not numbers:
            raise Invalid("type or paste at least one student number")
        result = students.add_to_roster(
            db_session, current_user, course, students.roster_numbers({"student_numbers": numbers})
        )
        message = ngettext(
            "%(num)d student added to the roster.",
            "%(num)d students added to the roster.",
            len(result.changed),
        )
        if result.unchanged:
            numbers = ", ".join(s.student_number for s in result.unchanged)
            message += " " + gettext("Already enrolled: %(numbers)s.", numbers=numbers)
        flash(message, "info")
        return redirect(url_for("school.course_detail", course_id=course.id, _anchor="roster"))

    return attempt(change, lambda: course_page(course, "roster", request.form))


@bp.post("/courses/<int:course_id>/roster/remove")
@instructor_page
def roster_remove(course_id: int) -> PageResult:
    course = course_or_404(course_id)

    def change() -> Response:
        numbers = request.form.getlist("student_number")
        if not numbers:
            raise Invalid("tick the students to take off the roster first")
        result = students.remove_from_roster(
            db_session, current_user, course, students.roster_numbers({"student_numbers": numbers})
        )
        flash(
            ngettext(
                "%(num)d student taken off the roster.",
                "%(num)d students taken off the roster.",
                len(result.changed),
            ),
            "info",
        )
        return redirect(url_for("school.course_detail", course_id=course.id, _anchor="roster"))

    return attempt(change, lambda: course_page(course, "roster"))


@bp.post("/courses/<int:course_id>/students")
@instructor_page
def course_student_create(course_id: int) -> PageResult:
    course = course_or_404(course_id)

    def change() -> Response:
        body = {
            "student_number": request.form.get("student_number", ""),
            "name": request.form.get("name", ""),
            "course_id": course.id,
        }
        student = students.create_student(db_session, current_user, body)
        flash(gettext("Student %(number)s created and enrolled.", number=student.student_number), "info")
        return redirect(url_for("school.course_detail", course_id=course.id, _anchor="roster"))

    return attempt(change, lambda: course_page(course, "new-student", request.form))


def _session_body() -> dict[str, Any]:
    """The single-session form (a date, start and end times on it, a zone) in the API's shape."""
    tz = zone(request.form.get("timezone"), "time zone")
    day = local_date(request.form.get("date"), "date")
    start = clock_time(request.form.get("start_time"), "start time")
    end = clock_time(request.form.get("end_time"), "end time")
    starts_at = at_local(day, start, tz)
    ends_at = at_local(day, end, tz)
    if ends_at <= starts_at:
        raise Invalid("the end time must be after the start time (a session ends on the day it starts)")
    return {
        "classroom_id": form_id("classroom_id"),
        "period_minutes": form_int("period_minutes", schedule.DEFAULT_PERIOD_MINUTES),
        "starts_at": starts_at.isoformat(),
        "ends_at": ends_at.isoformat(),
    }


@bp.post("/courses/<int:course_id>/sessions")
@instructor_page
def session_create(course_id: int) -> PageResult:
    course = course_or_404(course_id)

    def change() -> Response:
        created = schedule.create_sessions(db_session, current_user, course, _session_body())
        session_scheduled(db_session, created, current_app.config)
        flash(gettext("Session scheduled for %(when)s.", when=format_datetime(created[0].starts_at)), "info")
        return redirect(url_for("school.course_detail", course_id=course.id, _anchor="sessions"))

    return attempt(change, lambda: course_page(course, "session", request.form))


@bp.post("/courses/<int:course_id>/sessions/weekly")
@instructor_page
def session_series_create(course_id: int) -> PageResult:
    course = course_or_404(course_id)

    def change() -> Response:
        body = {
            "classroom_id": form_id("classroom_id"),
            "period_minutes": form_int("period_minutes", schedule.DEFAULT_PERIOD_MINUTES),
            "weekly": {
                "weekday": request.form.get("weekday", ""),
                "start_time": request.form.get("start_time", ""),
                "duration_minutes": form_int("duration_minutes"),
                "first_date": request.form.get("first_date", ""),
                "last_date": request.form.get("last_date", ""),
                "timezone": request.form.get("timezone", ""),
            },
        }
        created = schedule.create_sessions(db_session, current_user, course, body)
        session_scheduled(db_session, created, current_app.config)
        flash(
            ngettext("%(num)d weekly session scheduled.", "%(num)d weekly sessions scheduled.", len(created)),
            "info",
        )
        return redirect(url_for("school.course_detail", course_id=course.id, _anchor="sessions"))

    return attempt(change, lambda: course_page(course, "weekly", request.form))


@bp.post("/courses/<int:course_id>/sessions/<int:session_id>/delete")
@instructor_page
def session_delete(course_id: int, session_id: int) -> PageResult:
    course = course_or_404(course_id)

    def change() -> Response:
        lecture = access.session_for(db_session, current_user, session_id)
        if lecture.course_id != course.id:
            abort(404, gettext("Course %(code)s has no session %(id)s.", code=course.code, id=session_id))
        schedule.delete_session(db_session, current_user, lecture)
        flash(gettext("Session deleted."), "info")
        return redirect(url_for("school.course_detail", course_id=course.id, _anchor="sessions"))

    return attempt(change, lambda: course_page(course, "sessions"))


# --- students ----------------------------------------------------------------------------------


def students_page(values: Mapping[str, Any] | None = None) -> str:
    query = request.args.get("q", "").strip()[:100]
    statement = access.visible_students(current_user)
    if query:
        statement = statement.where(search(query))
    rows = list(db_session.scalars(statement.limit(501)))
    faces = students.face_counts(db_session, [s.id for s in rows[:500]])
    return render_template(
        "school/students.html",
        students=rows[:500],
        more=len(rows) > 500,
        faces=faces,
        query=query,
        courses=list(db_session.scalars(access.visible_courses(current_user))),
        values=values or {},
    )


@bp.get("/students")
@instructor_page
def student_list() -> str:
    return students_page()


@bp.post("/students")
@instructor_page
def student_create() -> PageResult:
    def change() -> Response:
        body = {
            "student_number": request.form.get("student_number", ""),
            "name": request.form.get("name", ""),
            "course_id": form_id("course_id"),
        }
        student = students.create_student(db_session, current_user, body)
        flash(gettext("Student %(number)s created.", number=student.student_number), "info")
        return redirect(url_for("school.student_detail", student_id=student.id))

    return attempt(change, lambda: students_page(request.form))


def student_page(student: Student, values: Mapping[str, Any] | None = None) -> str:
    admin = access.is_admin(current_user)
    accounts: list[User] = []
    if admin:
        accounts = list(
            db_session.scalars(select(User).where(User.role == Role.STUDENT).order_by(User.email))
        )
    return render_template(
        "school/student.html",
        student=student,
        courses=[c for c in student.courses if admin or c.instructor_id == current_user.id],
        faces=students.face_counts(db_session, [student.id]).get(student.id, 0),
        accounts=accounts,
        values=values or {},
    )


@bp.get("/students/<int:student_id>")
@instructor_page
def student_detail(student_id: int) -> str:
    return student_page(student_or_404(student_id))


@bp.post("/students/<int:student_id>/edit")
@instructor_page
def student_edit(student_id: int) -> PageResult:
    student = student_or_404(student_id)

    def change() -> Response:
        body: dict[str, Any] = {
            "student_number": request.form.get("student_number", ""),
            "name": request.form.get("name", ""),
        }
        if access.is_admin(current_user):
            body["user_id"] = form_id("user_id")
        students.update_student(db_session, current_user, student, body)
        flash(gettext("Student saved."), "info")
        return redirect(url_for("school.student_detail", student_id=student.id))

    return attempt(change, lambda: student_page(student, request.form))


@bp.post("/students/<int:student_id>/delete")
@instructor_page
def student_delete(student_id: int) -> PageResult:
    student = student_or_404(student_id)
    number = student.student_number

    def change() -> Response:
        students.erase_student(db_session, current_user, student)
        flash(
            gettext("Student %(number)s and every stored face of theirs were deleted.", number=number), "info"
        )
        return redirect(url_for("school.student_list"))

    return attempt(change, lambda: student_page(student))


# --- classrooms and devices (administrators) ---------------------------------------------------


def rooms_page(section: str = "", values: Mapping[str, Any] | None = None) -> str:
    return render_template(
        "school/rooms.html",
        classrooms=list(db_session.scalars(select(Classroom).order_by(Classroom.name))),
        devices=list(db_session.scalars(select(Device).order_by(Device.device_id))),
        section=section,
        values=values or {},
    )


@bp.get("/admin/classrooms")
@admin_page
def rooms_admin() -> str:
    return rooms_page()


def _back_to_rooms(anchor: str) -> Response:
    return redirect(url_for("school.rooms_admin", _anchor=anchor))


@bp.post("/admin/classrooms")
@admin_page
def classroom_create() -> PageResult:
    def change() -> Response:
        room = rooms.create_classroom(db_session, current_user, {"name": request.form.get("name", "")})
        flash(gettext("Classroom %(name)s created.", name=room.name), "info")
        return _back_to_rooms("classrooms")

    return attempt(change, lambda: rooms_page("classroom", request.form))


@bp.post("/admin/classrooms/<int:classroom_id>")
@admin_page
def classroom_edit(classroom_id: int) -> PageResult:
    room = db_session.get(Classroom, classroom_id) or abort(
        404, gettext("No classroom with id %(id)s.", id=classroom_id)
    )

    def change() -> Response:
        rooms.update_classroom(db_session, current_user, room, {"name": request.form.get("name", "")})
        flash(gettext("Classroom renamed."), "info")
        return _back_to_rooms("classrooms")

    return attempt(change, lambda: rooms_page())


@bp.post("/admin/devices")
@admin_page
def device_create() -> PageResult:
    def change() -> Response:
        body = {
            "device_id": request.form.get("device_id", ""),
            "name": request.form.get("name", ""),
            "classroom_id": form_id("classroom_id"),
        }
        device = rooms.create_device(db_session, current_user, body)
        flash(gettext("Device %(id)s registered.", id=device.device_id), "info")
        return _back_to_rooms("devices")

    return attempt(change, lambda: rooms_page("device", request.form))


@bp.post("/admin/devices/<int:device_pk>")
@admin_page
def device_edit(device_pk: int) -> PageResult:
    device = db_session.get(Device, device_pk) or abort(
        404, gettext("No device with id %(id)s.", id=device_pk)
    )

    def change() -> Response:
        body = {"name": request.form.get("name", ""), "classroom_id": form_id("classroom_id")}
        rooms.update_device(db_session, current_user, device, body)
        flash(gettext("Device %(id)s saved.", id=device.device_id), "info")
        return _back_to_rooms("devices")

    return attempt(change, lambda: rooms_page())
