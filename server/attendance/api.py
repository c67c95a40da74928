"""Attendance endpoints of the JSON API: everything the review pages do, for scripts and the page's
own live refresh.

Instructors reach only their own courses' sessions (administrators every course); any other id
answers 404 as if it did not exist. State changes are validated whole before anything is
written, and each is audited (see `server.attendance.review`).
"""

from __future__ import annotations

from flask import Response, abort, current_app, request
from flask_babel import gettext
from flask_login import current_user
from sqlalchemy import select

from server.api.endpoints import api_route
from server.attendance import clock, export, review
from server.attendance.access import course_or_404, review_or_404, session_or_404, sighting_or_404, student_of
from server.attendance.loading import audit_trail, my_sessions, pending_count
from server.attendance.schemas import (
    AttendanceOverrideRequest,
    AttendanceOverrideResult,
    AttendanceSession,
    AttendanceStudent,
    AuditEntry,
    MyAttendance,
    MySessionAttendance,
    RollCallRequest,
    RollCallResult,
    SessionAttendance,
    StudentAttendance,
    UnknownFace,
    UnknownFaceDecision,
    UnknownFaceDecisionResult,
)
from server.attendance.service import attach_sightings, compute_session, sessions_between
from server.attendance.unknown import unknown_faces
from server.db import db_session, utcnow
from server.db.enums import Role
from server.db.models import LectureSession

INSTRUCTOR = [Role.INSTRUCTOR]
TAGS = ["attendance"]

CSV_NOTE = (
    " The body is `text/csv` (UTF-8 with a BOM); columns: course, session_start, student_number, name, "
    "status, period_1..period_N, first_seen, last_seen, sightings, source, note (see docs/attendance.md)."
)


def _csv_response(text: str, name: str) -> Response:
    response = Response(text, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@api_route(
    "/attendance/sessions",
    "GET",
    roles=INSTRUCTOR,
    response=list[AttendanceSession],
    query=[
        {"name": "date", "schema": {"type": "string", "format": "date"}, "description": "Default: today."}
    ],
    tags=TAGS,
)
def list_attendance_sessions() -> list[AttendanceSession]:
    """The caller's lecture sessions on one day (local day of ATTENDANCE_TIMEZONE); all for admins."""
    config = current_app.config
    try:
        day = clock.parse_day(request.args.get("date"), config)
    except ValueError as exc:
        abort(400, str(exc))
    start, end = clock.day_bounds(day, config)
    owner = None if current_user.role == Role.ADMIN else current_user.id
    return [AttendanceSession.of(s) for s in sessions_between(db_session, start, end, owner)]


@api_route(
    "/sessions/<int:session_id>/attendance",
    "GET",
    roles=INSTRUCTOR,
    response=SessionAttendance,
    errors=[404],
    tags=TAGS,
)
def get_session_attendance(session_id: int) -> SessionAttendance:
    """A session's attendance: per student the status, per-period statuses and the evidence.

    Computed afresh on every call from the session's sightings (capture time) with the
    instructor's overrides applied; the review page polls it to refresh itself."""
    lecture = session_or_404(db_session, current_user, session_id)
    report = compute_session(db_session, lecture, current_app.config)
    return SessionAttendance.of(report, pending_count(db_session, lecture), utcnow())


@api_route(
    "/sessions/<int:session_id>/overrides",
    "POST",
    roles=INSTRUCTOR,
    request=AttendanceOverrideRequest,
    response=AttendanceOverrideResult,
    status=201,
    errors=[404],
    tags=TAGS,
)
def create_attendance_override(
    session_id: int, body: AttendanceOverrideRequest
) -> tuple[AttendanceOverrideResult, int]:
    """Set a student's status for the session or one period, with a reason (audited)."""
    lecture = session_or_404(db_session, current_user, session_id)
    override = review.override_status(
        db_session,
        lecture,
        current_user,
        current_app.config,
        student_id=body.student_id,
        status=body.status.value,
        reason=body.reason,
        period=body.period,
    )
    db_session.commit()
    report = compute_session(db_session, lecture, current_app.config, [override.student_id])
    row = report.result.student(override.student_id)
    return AttendanceOverrideResult(override_id=override.id, student=StudentAttendance.of(report, row)), 201


@api_route(
    "/sessions/<int:session_id>/rollcall",
    "POST",
    roles=INSTRUCTOR,
    request=RollCallRequest,
    response=RollCallResult,
    errors=[404],
    tags=TAGS,
)
def submit_roll_call(session_id: int, body: RollCallRequest) -> RollCallResult:
    """A manual roll call in one batch: every entry is checked first; one bad entry refuses them all.

    An entry equal to the student's current session status changes nothing; the others become
    session overrides with the roll call's reason, recorded in one audit entry."""
    lecture = session_or_404(db_session, current_user, session_id)
    result = review.roll_call(
        db_session,
        lecture,
        current_user,
        current_app.config,
        entries=body.sent()["entries"],
        reason=body.reason,
    )
    db_session.commit()
    return RollCallResult(changed=result.changed, unchanged=result.unchanged, audit_id=result.audit_id)


@api_route(
    "/sessions/<int:session_id>/confirm",
    "POST",
    roles=INSTRUCTOR,
    response=AttendanceSession,
    errors=[404],
    tags=TAGS,
)
def confirm_session_attendance(session_id: int) -> AttendanceSession:
    """Confirm the session's attendance (who and when are kept; the audit entry keeps the statuses).

    Corrections after confirmation remain possible and are audited as such."""
    lecture = session_or_404(db_session, current_user, session_id)
    attach_sightings(db_session, lecture, current_app.config)
    review.confirm(db_session, lecture, current_user, current_app.config)
    db_session.commit()
    return AttendanceSession.of(lecture)


@api_route(
    "/sessions/<int:session_id>/unknown-faces",
    "GET",
    roles=INSTRUCTOR,
    response=list[UnknownFace],
    errors=[404],
    tags=TAGS,
)
def list_session_unknown_faces(session_id: int) -> list[UnknownFace]:
    """Faces seen in the session that matched no enrolled student, pending ones first, each with its
    best crop, its cluster (the same person across the course's sessions; decide it with POST
    /unknown-clusters/{id}) and the top 3 roster students by similarity (none chosen for you)."""
    lecture = session_or_404(db_session, current_user, session_id)
    report = compute_session(db_session, lecture, current_app.config)
    return unknown_faces(db_session, lecture, report)


@api_route(
    "/unknown-faces/<int:face_id>",
    "POST",
    roles=INSTRUCTOR,
    request=UnknownFaceDecision,
    response=UnknownFaceDecisionResult,
    errors=[404, 409],
    tags=TAGS,
)
def decide_unknown_face(face_id: int, body: UnknownFaceDecision) -> UnknownFaceDecisionResult:
    """Assign an unknown face to a roster student (its sightings then count for them) or mark it
    "not a student". Audited; an assigned face cannot be re-decided (409)."""
    face = review_or_404(db_session, current_user, face_id)
    relabelled = review.decide_unknown_face(
        db_session,
        face,
        current_user,
        decision=body.decision,
        student_id=body.student_id,
        reason=body.reason,
    )
    db_session.commit()
    report = compute_session(db_session, face.session, current_app.config)
    return UnknownFaceDecisionResult(face=UnknownFace.of(face, report), relabelled=relabelled)


@api_route(
    "/sessions/<int:session_id>/audit",
    "GET",
    roles=INSTRUCTOR,
    response=list[AuditEntry],
    errors=[404],
    tags=TAGS,
)
def list_session_audit(session_id: int) -> list[AuditEntry]:
    """The session's audit trail (overrides, roll calls, confirmations, face decisions), newest first."""
    lecture = session_or_404(db_session, current_user, session_id)
    return [AuditEntry.of(entry) for entry in audit_trail(db_session, lecture)]


@api_route(
    "/sessions/<int:session_id>/export.csv",
    "GET",
    roles=INSTRUCTOR,
    errors=[404],
    tags=TAGS,
    summary="The session's attendance as CSV, one row per roster student." + CSV_NOTE,
)
def export_session_csv(session_id: int) -> Response:
    lecture = session_or_404(db_session, current_user, session_id)
    report = compute_session(db_session, lecture, current_app.config)
    return _csv_response(export.to_csv([report]), export.filename(lecture.course.code, lecture.starts_at))


@api_route(
    "/courses/<int:course_id>/export.csv",
    "GET",
    roles=INSTRUCTOR,
    errors=[404],
    tags=TAGS,
    summary="The course's attendance as CSV: every session that has started, one row per "
    "(session, roster student)." + CSV_NOTE,
)
def export_course_csv(course_id: int) -> Response:
    course = course_or_404(db_session, current_user, course_id)
    lectures = db_session.scalars(
        select(LectureSession)
        .where(LectureSession.course_id == course.id, LectureSession.starts_at <= utcnow())
        .order_by(LectureSession.starts_at, LectureSession.id)
    ).all()
    reports = [compute_session(db_session, lecture, current_app.config) for lecture in lectures]
    return _csv_response(export.to_csv(reports), export.filename(course.code))


@api_route(
    "/sightings/<bigid:sighting_id>/thumbnail",
    "GET",
    roles=INSTRUCTOR,
    errors=[404],
    tags=TAGS,
    summary="The face crop (JPEG) a device sent with a sighting, when it sent one.",
)
def get_sighting_thumbnail(sighting_id: int) -> Response:
    sighting = sighting_or_404(db_session, current_user, sighting_id)
    if sighting.thumbnail is None:
        abort(
            404, gettext("Sighting %(id)s has no thumbnail (devices send none by default).", id=sighting_id)
        )
    response = Response(sighting.thumbnail, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@api_route("/me/attendance", "GET", response=MyAttendance, errors=[404], tags=TAGS)
def get_my_attendance() -> MyAttendance:
    """The caller's own attendance (read only), for an account linked to a student record:
    every started session of their courses, newest first."""
    student = student_of(db_session, current_user)
    if student is None:
        abort(404, "No student record is linked to your account.")
    return MyAttendance(
        student=AttendanceStudent(id=student.id, student_number=student.student_number, name=student.name),
        sessions=[
            MySessionAttendance(session=AttendanceSession.of(lecture), attendance=row)
            for lecture, row in my_sessions(db_session, student.id, current_app.config)
        ],
    )
