"""Per-course calibration endpoints of /api/v1: read a course's calibrated thresholds, accept them,
revert to the global default (`server.school.calibration` holds the rule and the audit)."""

from __future__ import annotations

from flask_login import current_user

from server.api.endpoints import api_route
from server.db import db_session
from server.db.enums import Role
from server.school import access, calibration
from server.school.schemas import CalibrationAccept, CourseCalibration

TAGS = ["school"]


@api_route(
    "/courses/<int:course_id>/calibration",
    "GET",
    roles=[Role.INSTRUCTOR],
    response=CourseCalibration,
    errors=[404],
    tags=TAGS,
)
def get_course_calibration(course_id: int) -> CourseCalibration:
    """The course's recognition thresholds calibrated from its enrolment photos, with pair counts.

    Match threshold at a false-accept rate of 1e-3 over the course's impostor pairs, unknown threshold
    at 1e-2; refused (with the reason in `proposal.refused`) below 10 genuine or 3,000 impostor pairs."""
    course = access.course_for(db_session, current_user, course_id)
    return CourseCalibration.model_validate(calibration.calibration_json(db_session, course))


@api_route(
    "/courses/<int:course_id>/calibration/accept",
    "POST",
    roles=[Role.ADMIN],
    request=CalibrationAccept,
    response=CourseCalibration,
    errors=[404, 409],
    tags=TAGS,
)
def accept_course_calibration(course_id: int, body: CalibrationAccept) -> CourseCalibration:
    """Use the course's calibrated thresholds on its devices (audited; the gallery version moves).

    409 when there is nothing to accept (too few pairs) or the proposal changed since `threshold`;
    400 when it is below the global default and `confirm_below_global` is not true."""
    course = access.course_for(db_session, current_user, course_id)
    calibration.accept(db_session, current_user, course, body.confirm_below_global, body.threshold)
    db_session.commit()
    return CourseCalibration.model_validate(calibration.calibration_json(db_session, course))


@api_route(
    "/courses/<int:course_id>/calibration/revert",
    "POST",
    roles=[Role.ADMIN],
    response=CourseCalibration,
    errors=[404, 409],
    tags=TAGS,
)
def revert_course_calibration(course_id: int) -> CourseCalibration:
    """Back to the global default threshold (audited; the gallery version moves).

    409 when none was accepted."""
    course = access.course_for(db_session, current_user, course_id)
    calibration.revert(db_session, current_user, course)
    db_session.commit()
    return CourseCalibration.model_validate(calibration.calibration_json(db_session, course))
