"""The instructor's review pages (server-rendered; the live roster is refreshed by
static/attendance.js from the JSON API) and the student's own read-only view.

Forms post to the routes below, which call the same `server.attendance.review` functions as the
API. Success redirects back to the page (post/redirect/get) with a message; bad input renders
the page again with status 400 and the message, having written nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext, ngettext
from flask_login import current_user
from sqlalchemy import select
from werkzeug import Response
from werkzeug.exceptions import HTTPException

from server.api.io import int_text
from server.attendance import clock, clusters, learning, review, unknown_api
from server.attendance.access import learned_or_404, review_or_404, session_or_404, student_of
from server.attendance.loading import audit_trail, my_sessions, pending_count
from server.attendance.schemas import SessionAttendance
from server.attendance.service import (
    SessionReport,
    compute_session,
    out_after_from_config,
    plan_for,
    sessions_between,
    settings_from_config,
)
from server.attendance.unknown import learned_faces, unknown_faces
from server.auth.decorators import login_required, role_required
from server.db import db_session, utcnow
from server.db.enums import Role, SessionStatus
from server.db.models import AuditLog, Course, LectureSession
from server.enrolment.errors import EnrolmentError
from server.errors import ServiceError
from server.page_text import page_clock
from server.settings import current_settings
from server.uploads.files import files_in_request
from server.uploads.limits import limit

bp = Blueprint("attendance", __name__)
# templates/page_text.html's clock, for every page of the app (the attendance pages are always served)
bp.add_app_template_global(page_clock, "page_clock")

STATUS_LABELS = {
    "present": lazy_gettext("present"),
    "late": lazy_gettext("late"),
    "left_early": lazy_gettext("left early"),
    "late_and_left_early": lazy_gettext("late & left early"),
    "absent": lazy_gettext("absent"),
    "excused": lazy_gettext("excused"),
}
ACTION_LABELS = {
    "attendance.override": lazy_gettext("Override"),
    "attendance.rollcall": lazy_gettext("Roll call"),
    "attendance.confirm": lazy_gettext("Confirmed"),
    "unknown_face.assigned": lazy_gettext("Face assigned"),
    "unknown_face.not_a_student": lazy_gettext("Not a student"),
    "attendance.face_learned": lazy_gettext("Face learned"),
    "attendance.face_unlearned": lazy_gettext("Learned face removed"),
}


@bp.app_template_filter("status_label")
def status_label(value: str | None) -> str:
    """An attendance status as people read it, in their language (unknown values as they are)."""
    return str(STATUS_LABELS.get(value or "", value or ""))


@bp.app_template_filter("local_time")
def local_time(value: datetime | str | None, fmt: str = "%H:%M") -> str:
    """A datetime (or the API's ISO text of one) in the institution's time zone."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return clock.local(value, current_app.config, fmt)


# ----------------------------------------------------------------------------- pages


@bp.get("/attendance")
@role_required(Role.INSTRUCTOR)
def sessions() -> str | tuple[str, int]:
    """Today's sessions of the signed-in instructor (every course for an administrator)."""
    config = current_app.config
    error = None
    try:
        day = clock.parse_day(request.args.get("date"), config)
    except ValueError as exc:
        error, day = str(exc), clock.today(config)
    start, end = clock.day_bounds(day, config)
    admin = current_user.role == Role.ADMIN
    lectures = sessions_between(db_session, start, end, None if admin else current_user.id)
    courses_query = select(Course).order_by(Course.code)
    if not admin:
        courses_query = courses_query.where(Course.instructor_id == current_user.id)
    page = render_template(
        "attendance/sessions.html",
        day=day,
        today=clock.today(config),
        previous_day=day - timedelta(days=1),
        next_day=day + timedelta(days=1),
        lectures=lectures,
        # each session's real periods ("1 period of 50 min"), not the course's period setting
        periods={lecture.id: plan_for(lecture, config).periods for lecture in lectures},
        courses=db_session.scalars(courses_query).all(),
        zone=clock.zone(config).key,
        error=error,
        now=utcnow(),
    )
    return (page, 400) if error else page


@bp.get("/attendance/sessions/<int:session_id>")
@role_required(Role.INSTRUCTOR)
def session_page(session_id: int) -> str:
    lecture = session_or_404(db_session, current_user, session_id)
    return _render_session(lecture)


def _render_session(
    lecture: LectureSession, error: str | None = None, form: dict[str, Any] | None = None
) -> str:
    config = current_app.config
    report = compute_session(db_session, lecture, config)
    data = SessionAttendance.of(report, pending_count(db_session, lecture), utcnow()).model_dump(mode="json")
    faces = [face.model_dump(mode="json") for face in unknown_faces(db_session, lecture, report)]
    return render_template(
        "attendance/session.html",
        lecture=lecture,
        report=report,
        data=data,
        periods=report.result.plan.periods,
        faces=faces,
        learned=[face.model_dump(mode="json") for face in learned_faces(db_session, lecture)],
        audit=[describe(entry, report) for entry in audit_trail(db_session, lecture)],
        attended=review.ATTENDED,
        statuses=list(STATUS_LABELS),
        zone=clock.zone(config).key,
        refresh_seconds=refresh_seconds(config),
        out_after_seconds=round(out_after_from_config(config).total_seconds()),
        error=error,
        form=form or {},
    )


def refresh_seconds(config: Any) -> int:
    """How often the session page polls its roster (ATTENDANCE_REFRESH_SECONDS, at least 1)."""
    return settings_from_config(config).refresh_seconds


def _error_page(lecture: LectureSession, exc: review.ReviewError, form: dict[str, Any]) -> tuple[str, int]:
    db_session.rollback()
    return _render_session(lecture, error=exc.message, form=form), exc.status


def _back_to_session(session_id: int, anchor: str | None = None) -> Response:
    """After a change: 303 back to the session page, scrolled to the section the change shows in."""
    return redirect(url_for(".session_page", session_id=session_id, _anchor=anchor), 303)


def _form_int(name: str) -> Any:
    """A form field as an int when it is one (else the raw text, which validation then names)."""
    value = request.form.get(name, "").strip()
    if value == "":
        return None
    number = int_text(value)  # not int(): '²'.isdigit() is true, and 5,000 digits raise
    return value if number is None else number


# ----------------------------------------------------------------------------- changes


@bp.post("/attendance/sessions/<int:session_id>/overrides")
@role_required(Role.INSTRUCTOR)
def post_override(session_id: int) -> Response | tuple[str, int]:
    lecture = session_or_404(db_session, current_user, session_id)
    period = _form_int("period")
    try:
        override = review.override_status(
            db_session,
            lecture,
            current_user,
            current_app.config,
            student_id=_form_int("student_id"),
            status=request.form.get("status"),
            reason=request.form.get("reason"),
            period=period,
        )
    except review.ReviewError as exc:
        return _error_page(lecture, exc, dict(request.form))
    db_session.commit()
    scope = gettext("the session") if period is None else gettext("period %(number)d", number=period + 1)
    flash(
        gettext(
            "%(name)s: %(status)s for %(scope)s (reason recorded).",
            name=override.student.name,
            status=status_label(override.status.value),
            scope=scope,
        ),
        "info",
    )
    return _back_to_session(lecture.id, "roster")


@bp.post("/attendance/sessions/<int:session_id>/rollcall")
@role_required(Role.INSTRUCTOR)
def post_roll_call(session_id: int) -> Response | tuple[str, int]:
    lecture = session_or_404(db_session, current_user, session_id)
    form = {"rollcall_reason": request.form.get("reason", "")}
    raw = request.form.getlist("present")
    try:
        ticked = {int(value) for value in raw}
    except ValueError:
        message = gettext("roll call: %(values)s are not student ids", values=repr(raw))
        return _error_page(lecture, review.ReviewError(message), form)
    report: SessionReport = compute_session(db_session, lecture, current_app.config)
    roster = {row.student_id for row in report.result.students}
    strangers = sorted(ticked - roster)
    if strangers:
        message = gettext(
            "roll call: student %(id)s is not on the roster of %(course)s",
            id=strangers[0],
            course=lecture.course.code,
        )
        return _error_page(lecture, review.ReviewError(message), form)
    entries = review.roll_call_entries(report, ticked)
    if not entries:
        flash(gettext("Roll call saved: it matches the current attendance, nothing changed."), "info")
        return _back_to_session(lecture.id, "roster")
    try:
        result = review.roll_call(
            db_session,
            lecture,
            current_user,
            current_app.config,
            entries=entries,
            reason=form["rollcall_reason"],
        )
    except review.ReviewError as exc:
        return _error_page(lecture, exc, form)
    db_session.commit()
    flash(
        ngettext(
            "Roll call saved: %(num)d student changed.",
            "Roll call saved: %(num)d students changed.",
            len(result.changed),
        ),
        "info",
    )
    return _back_to_session(lecture.id, "roster")


@bp.post("/attendance/sessions/<int:session_id>/confirm")
@role_required(Role.INSTRUCTOR)
def post_confirm(session_id: int) -> Response:
    lecture = session_or_404(db_session, current_user, session_id)
    again = lecture.status == SessionStatus.CONFIRMED
    review.confirm(db_session, lecture, current_user, current_app.config)
    db_session.commit()
    flash(gettext("Attendance confirmed again.") if again else gettext("Attendance confirmed."), "info")
    return _back_to_session(lecture.id)


@bp.post("/attendance/unknown-faces/<int:face_id>")
@role_required(Role.INSTRUCTOR)
def post_face_decision(face_id: int) -> Response | tuple[str, int]:
    face = review_or_404(db_session, current_user, face_id)
    lecture = face.session
    decision = request.form.get("decision")
    try:
        count = review.decide_unknown_face(
            db_session,
            face,
            current_user,
            decision=decision,
            student_id=_form_int("student_id") if decision == "assigned" else None,
            reason=request.form.get("reason"),
        )
    except review.ReviewError as exc:
        return _error_page(lecture, exc, {})
    db_session.commit()
    if decision == "assigned":
        flash(
            ngettext(
                "Face assigned to %(name)s: %(num)d sighting now counts for them.",
                "Face assigned to %(name)s: %(num)d sightings now count for them.",
                count,
                name=face.student.name,
            ),
            "info",
        )
    else:
        flash(gettext("Face marked as not a student."), "info")
    return _back_to_session(lecture.id, "unknown-faces")


# ----------------------------------------------------------------------------- unknown people


@bp.post("/attendance/unknown-faces/<int:face_id>/cluster")
@role_required(Role.INSTRUCTOR)
def post_cluster_decision(face_id: int) -> Response | tuple[str, int]:
    """Decide the person (cluster) this face belongs to: every face of theirs, in every session."""
    face = review_or_404(db_session, current_user, face_id)
    lecture = face.session
    member = clusters.membership(db_session, [face.id]).get(face.id)
    if member is None:
        alone = review.ReviewError(gettext("this face belongs to no cluster: decide it alone"))
        return _error_page(lecture, alone, {})
    decision = request.form.get("decision")
    try:
        result = review.decide_cluster(
            db_session,
            member.cluster,
            current_user,
            decision=decision,
            student_id=_form_int("student_id") if decision == "assigned" else None,
            version=_form_int("version"),
            reason=request.form.get("reason"),
        )
    except review.ReviewError as exc:
        return _error_page(lecture, exc, {})
    db_session.commit()
    cluster = member.cluster
    if decision == "assigned":
        flash(
            gettext(
                "%(faces)s of this person assigned to %(name)s in %(sessions)s: %(sightings)s.",
                faces=ngettext("%(num)d face", "%(num)d faces", len(result.reviews)),
                name=cluster.student.name,
                sessions=ngettext("%(num)d session", "%(num)d sessions", len(result.sessions)),
                sightings=ngettext(
                    "%(num)d sighting now counts for them",
                    "%(num)d sightings now count for them",
                    result.relabelled,
                ),
            ),
            "info",
        )
    else:
        flash(
            ngettext(
                "%(num)d face of this person marked as not a student.",
                "%(num)d faces of this person marked as not a student.",
                len(result.reviews),
            ),
            "info",
        )
    return _back_to_session(lecture.id, "unknown-faces")


@bp.post("/attendance/unknown-faces/<int:face_id>/learn")
@role_required(Role.INSTRUCTOR)
def post_learn_face(face_id: int) -> Response | tuple[str, int]:
    face = review_or_404(db_session, current_user, face_id)
    lecture = face.session
    try:
        learned = learning.learn_from_review(db_session, face, current_user)
    except review.ReviewError as exc:
        return _error_page(lecture, exc, {})
    except EnrolmentError as exc:
        return _error_page(lecture, review.ReviewError(exc.message, exc.status), {})
    db_session.commit()
    flash(
        gettext(
            "Face added to %(name)s's enrolment: devices get it with the next gallery.",
            name=learned.student.name,
        ),
        "info",
    )
    return _back_to_session(lecture.id, "learned-faces")


@bp.post("/attendance/learned-faces/<int:learned_id>/delete")
@role_required(Role.INSTRUCTOR)
def post_unlearn_face(learned_id: int) -> Response:
    learned = learned_or_404(db_session, current_user, learned_id)
    session_id, name = learned.session_id, learned.student.name
    learning.unlearn(db_session, learned, current_user)
    db_session.commit()
    flash(gettext("Learned face removed from %(name)s's enrolment.", name=name), "info")
    if session_id is None:
        return redirect(url_for(".sessions"), 303)
    return _back_to_session(session_id, "learned-faces")


@bp.route("/attendance/unknown-faces/search", methods=["GET", "POST"])
@role_required(Role.INSTRUCTOR)
def face_search_page() -> str | tuple[str, int]:
    """Upload a key photo, see the unknown faces of your courses that match it."""
    if request.method == "GET":
        return render_template("attendance/face_search.html", result=None, error=None)
    try:
        result = unknown_api.run_search(
            files_in_request(("key",), cap=current_settings().enrolment.max_photo_bytes)
        ).model_dump(mode="json")
    except HTTPException as exc:
        db_session.rollback()
        page = render_template("attendance/face_search.html", result=None, error=exc.description)
        return page, exc.code or 400
    except ServiceError as exc:  # the key photo itself is refused (no face, not an image)
        db_session.rollback()
        page = render_template("attendance/face_search.html", result=None, error=exc.message)
        return page, exc.status
    return render_template("attendance/face_search.html", result=result, error=None)


limit("attendance.face_search_page", "ENROLMENT_MAX_PHOTO_BYTES", "a key photo")


# ----------------------------------------------------------------------------- students


@bp.get("/me/attendance")
@login_required
def my_attendance() -> tuple[str, int] | str:
    student = student_of(db_session, current_user)
    if student is None:
        return render_template("attendance/me.html", student=None, rows=[]), 404
    rows = [
        (lecture, row.model_dump(mode="json"))
        for lecture, row in my_sessions(db_session, student.id, current_app.config)
    ]
    return render_template(
        "attendance/me.html", student=student, rows=rows, zone=clock.zone(current_app.config).key
    )


# ----------------------------------------------------------------------------- audit text


def describe(entry: AuditLog, report: SessionReport) -> dict[str, Any]:
    """An audit entry as the page shows it: what, about whom, before -> after, why."""
    before, after = entry.before or {}, entry.after or {}
    names = {s.student_number: s.name for s in report.students.values()}
    subject, change = "", ""
    if entry.action == "attendance.override":
        number = after.get("student_number", "")
        period = after.get("period")
        subject = f"{names.get(number, number)} ({number}) · " + (
            gettext("session") if period is None else gettext("period %(number)d", number=period + 1)
        )
        change = f"{status_label(before.get('status'))} → {status_label(after.get('status'))}"
    elif entry.action == "attendance.rollcall":
        numbers = [k for k in after if k != "after_confirmation"]
        subject = ngettext("%(num)d student", "%(num)d students", len(numbers))
        change = "; ".join(
            f"{names.get(n, n)}: {status_label(before.get(n))} → {status_label(after[n])}" for n in numbers
        )
    elif entry.action == "attendance.confirm":
        subject = gettext("session")
        change = f"{before.get('status')} → {gettext('confirmed')}"
    elif entry.action.startswith("unknown_face.") and "cluster_id" in after:
        faces = after.get("review_ids", [])
        subject = gettext(
            "unknown person #%(id)s (%(faces)s here)",
            id=after["cluster_id"],
            faces=ngettext("%(num)d face", "%(num)d faces", len(faces)),
        )
        change = _decision_text(after, names)
    elif entry.action in ("attendance.face_learned", "attendance.face_unlearned"):
        detail = after if entry.action == "attendance.face_learned" else before
        number = detail.get("student_number", "")
        subject = f"{names.get(number, number)} ({number})"
        learned = entry.action == "attendance.face_learned"
        change = gettext("crop added to the enrolment") if learned else gettext("removed from the enrolment")
    elif entry.action.startswith("unknown_face."):
        subject = gettext("unknown face #%(id)s", id=after.get("review_id", ""))
        change = _decision_text(after, names)
    if after.get("after_confirmation"):
        change += " " + gettext("(after confirmation)")
    return {
        "at": entry.at,
        "actor": entry.actor.display_name if entry.actor else gettext("system"),
        "action": str(ACTION_LABELS.get(entry.action, entry.action)),
        "subject": subject,
        "change": change,
        "reason": entry.reason or "",
    }


def _decision_text(after: dict[str, Any], names: dict[str, str]) -> str:
    """An unknown face's (or person's) decision in the audit log: whom it went to, or not a student."""
    if after.get("decision") != "assigned":
        return gettext("not a student")
    number = after.get("student_number", "")
    return ngettext(
        "assigned to %(name)s (%(number)s), %(num)d sighting",
        "assigned to %(name)s (%(number)s), %(num)d sightings",
        after.get("relabelled", 0),
        name=names.get(number, number),
        number=number,
    )
