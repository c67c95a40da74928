"""Per-course calibration endpoints of /api/v1: read a course's calibrated thresholds, accept them,
revert to the global default (`server.school.calibration` holds the rule and the audit)."""

from __future__ import annotations

import math
from typing import Any

from flask_login import current_user

from server.api.endpoints import api_route, registry
from server.api.io import json_body
from server.db import db_session
from server.db.enums import Role
from server.school import access, calibration
from server.school.errors import Invalid

TAGS = ["school"]
NUMBER = {"type": "number"}
NULLABLE_NUMBER = {"type": ["number", "null"]}
RANGE = {"type": ["array", "null"], "items": NUMBER, "minItems": 2, "maxItems": 2}
RATES = {
    "type": "object",
    "description": "False-accept rate over the impostor pairs and false-reject rate over the genuine pairs "
    "at a threshold (empty when there are no genuine pairs).",
    "properties": {"far": NUMBER, "frr": NUMBER},
}
PROPOSAL = registry.schema(
    "CalibrationProposal",
    {
        "type": "object",
        "description": "The course's calibration from its accepted enrolment photos: genuine pairs are two "
        "photos of one student, impostor pairs photos of two students. `refused` says why no threshold is "
        "proposed (too few pairs); `below_global` means accepting needs `confirm_below_global`.",
        "properties": {
            "model": {"type": "string"},
            "metric": {"type": "string"},
            "students": {"type": "integer"},
            "students_with_photos": {"type": "integer"},
            "faces": {"type": "integer"},
            "genuine_pairs": {"type": "integer"},
            "impostor_pairs": {"type": "integer"},
            "target_far": NUMBER,
            "unknown_far": NUMBER,
            "min_genuine_pairs": {"type": "integer"},
            "min_impostor_pairs": {"type": "integer"},
            "global_threshold": NUMBER,
            "global_unknown_threshold": NUMBER,
            "refused": {"type": ["string", "null"]},
            "genuine_range": RANGE,
            "impostor_range": RANGE,
            "accuracy_threshold": NULLABLE_NUMBER,
            "threshold": NULLABLE_NUMBER,
            "unknown_threshold": NULLABLE_NUMBER,
            "below_global": {"type": "boolean"},
            "at_proposed": RATES,
            "at_global": RATES,
        },
        "required": ["model", "genuine_pairs", "impostor_pairs", "refused", "threshold", "global_threshold"],
    },
)
ACCEPTED = {
    "type": ["object", "null"],
    "description": "The thresholds an administrator accepted (null: none). `applies` is false when they were "
    "calibrated for another embedder than the gallery's current one (the global default is used then).",
    "properties": {
        "model": {"type": "string"},
        "applies": {"type": "boolean"},
        "threshold": NUMBER,
        "unknown_threshold": NUMBER,
        "target_far": NUMBER,
        "genuine_pairs": {"type": "integer"},
        "impostor_pairs": {"type": "integer"},
        "global_threshold": NUMBER,
        "accepted_by": {"type": ["string", "null"]},
        "accepted_at": {"type": "string", "format": "date-time"},
    },
}
CALIBRATION = registry.schema(
    "CourseCalibration",
    {
        "type": "object",
        "properties": {
            "course_id": {"type": "integer"},
            "proposal": PROPOSAL,
            "accepted": ACCEPTED,
            "in_use": {
                "type": "object",
                "description": "What the course's gallery carries to devices now.",
                "properties": {
                    "source": {"type": "string", "enum": ["course", "global"]},
                    "threshold": NUMBER,
                    "unknown_threshold": NUMBER,
                },
            },
        },
        "required": ["course_id", "proposal", "accepted", "in_use"],
    },
)
ACCEPT = registry.schema(
    "CalibrationAccept",
    {
        "type": "object",
        "properties": {
            "confirm_below_global": {
                "type": "boolean",
                "description": "Needed when the proposal is below the global default.",
            },
            "threshold": {
                "type": "number",
                "minimum": -10,
                "maximum": 10,
                "description": "The proposed threshold the caller saw: 409 when the proposal changed since.",
            },
        },
        "additionalProperties": False,
    },
)


def accept_body(body: dict[str, Any]) -> tuple[bool, float | None]:
    """(confirm_below_global, expected threshold) from the request, or Invalid naming the field."""
    unknown = sorted(set(body) - {"confirm_below_global", "threshold"})
    if unknown:
        raise Invalid(f"unknown field(s): {', '.join(unknown)[:100]}")
    confirm = body.get("confirm_below_global", False)
    if not isinstance(confirm, bool):
        raise Invalid("'confirm_below_global' must be true or false")
    expected = None
    if "threshold" in body:  # null too must be refused: the schema says a number
        expected = body["threshold"]
        if isinstance(expected, bool) or not isinstance(expected, int | float):
            raise Invalid("'threshold' must be a number")
        if not -10 <= expected <= 10 or not math.isfinite(expected):
            raise Invalid("'threshold' must be between -10 and 10")
        expected = float(expected)
    return confirm, expected


@api_route(
    "/courses/<int:course_id>/calibration",
    "GET",
    roles=[Role.INSTRUCTOR],
    response=CALIBRATION,
    errors=[404],
    tags=TAGS,
)
def get_course_calibration(course_id: int) -> dict[str, Any]:
    """The course's recognition thresholds calibrated from its enrolment photos, with pair counts.

    Match threshold at a false-accept rate of 1e-3 over the course's impostor pairs, unknown threshold
    at 1e-2; refused (with the reason in `proposal.refused`) below 10 genuine or 3,000 impostor pairs."""
    course = access.course_for(db_session, current_user, course_id)
    return calibration.calibration_json(db_session, course)


@api_route(
    "/courses/<int:course_id>/calibration/accept",
    "POST",
    roles=[Role.ADMIN],
    request=ACCEPT,
    response=CALIBRATION,
    errors=[404, 409],
    tags=TAGS,
)
def accept_course_calibration(course_id: int) -> dict[str, Any]:
    """Use the course's calibrated thresholds on its devices (audited; the gallery version moves).

    409 when there is nothing to accept (too few pairs) or the proposal changed since `threshold`;
    400 when it is below the global default and `confirm_below_global` is not true."""
    course = access.course_for(db_session, current_user, course_id)
    confirm, expected = accept_body(json_body())
    calibration.accept(db_session, current_user, course, confirm, expected)
    db_session.commit()
    return calibration.calibration_json(db_session, course)


@api_route(
    "/courses/<int:course_id>/calibration/revert",
    "POST",
    roles=[Role.ADMIN],
    response=CALIBRATION,
    errors=[404, 409],
    tags=TAGS,
)
def revert_course_calibration(course_id: int) -> dict[str, Any]:
    """Back to the global default threshold (audited; the gallery version moves).

    409 when none was accepted."""
    course = access.course_for(db_session, current_user, course_id)
    calibration.revert(db_session, current_user, course)
    db_session.commit()
    return calibration.calibration_json(db_session, course)
