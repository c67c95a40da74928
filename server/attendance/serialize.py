"""JSON views of a session's attendance, shared by the API and the live roster page (its script
renders exactly what the API returns), plus the OpenAPI schemas that describe them."""

from __future__ import annotations

from collections import Counter
from typing import Any

from flask import url_for

from server.api.endpoints import registry
from server.api.io import DATETIME, NULLABLE_DATETIME, iso
from server.attendance import engine, presence
from server.attendance.service import SessionReport
from server.db.models import AuditLog, LectureSession, Student, UnknownFaceReview

STATUSES = [status.value for status in engine.Status]
NULLABLE_NUMBER = {"type": ["number", "null"]}

EVIDENCE = registry.schema(
    "AttendanceEvidence",
    {
        "type": "object",
        "description": "What a status rests on. Times are capture times (the device clock), UTC.",
        "properties": {
            "sightings": {"type": "integer"},
            "first_seen": NULLABLE_DATETIME,
            "last_seen": NULLABLE_DATETIME,
            "best_score": NULLABLE_NUMBER,
            "presence_seconds": {"type": "number"},
            "presence_fraction": {"type": "number"},
            "arrival": NULLABLE_DATETIME,
            "departure": NULLABLE_DATETIME,
        },
        "required": [
            "sightings",
            "first_seen",
            "last_seen",
            "best_score",
            "presence_seconds",
            "presence_fraction",
        ],
    },
)
_VERDICT = {
    "status": {"type": "string", "enum": STATUSES},
    "computed_status": {"type": "string", "enum": STATUSES, "description": "What the engine alone says."},
    "source": {"type": "string", "enum": ["engine", "manual"]},
    "note": {"type": ["string", "null"], "description": "The reason of the override in force."},
    "reasons": {"type": "array", "items": {"type": "string"}, "description": "Why the engine decided so."},
    "evidence": EVIDENCE,
}
PERIOD_STATUS = registry.schema(
    "PeriodAttendance",
    {
        "type": "object",
        "properties": {"index": {"type": "integer"}, **_VERDICT},
        "required": ["index", "status", "computed_status", "source", "evidence"],
    },
)
LIVE_STATE = registry.schema(
    "LiveState",
    {
        "type": ["object", "null"],
        "description": (
            "Where the student is now while the session runs (null before and after it): 'in' since the"
            " first sighting of the current run, 'out' of the room since the last sighting when that is more"
            " than ATTENDANCE_OUT_AFTER_SECONDS ago, 'not_seen' yet (since null)."
        ),
        "properties": {
            "state": {"type": "string", "enum": [p.value for p in presence.Presence]},
            "since": NULLABLE_DATETIME,
        },
        "required": ["state", "since"],
    },
)
STUDENT_ATTENDANCE = registry.schema(
    "StudentAttendance",
    {
        "type": "object",
        "properties": {
            "student_id": {"type": "integer"},
            "student_number": {"type": "string"},
            "name": {"type": "string"},
            **_VERDICT,
            "thumbnail_url": {
                "type": ["string", "null"],
                "description": "Best sighting's face crop, if sent.",
            },
            "periods": {"type": "array", "items": PERIOD_STATUS},
            "live": LIVE_STATE,
        },
        "required": ["student_id", "student_number", "name", "status", "source", "evidence", "periods"],
    },
)
SESSION_SUMMARY = registry.schema(
    "AttendanceSession",
    {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "course": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "code": {"type": "string"},
                    "title": {"type": "string"},
                },
            },
            "classroom": {"type": ["string", "null"]},
            "starts_at": DATETIME,
            "ends_at": DATETIME,
            "period_minutes": {"type": "integer"},
            "status": {"type": "string", "enum": ["scheduled", "confirmed"]},
            "confirmed_by": {"type": ["string", "null"]},
            "confirmed_at": NULLABLE_DATETIME,
        },
        "required": ["id", "course", "starts_at", "ends_at", "period_minutes", "status"],
    },
)
SESSION_ATTENDANCE = registry.schema(
    "SessionAttendance",
    {
        "type": "object",
        "properties": {
            "session": SESSION_SUMMARY,
            "periods": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"index": {"type": "integer"}, "start": DATETIME, "end": DATETIME},
                },
            },
            "students": {"type": "array", "items": STUDENT_ATTENDANCE},
            "not_on_roster": {
                "type": "array",
                "items": STUDENT_ATTENDANCE,
                "description": "Recognised students who are not enrolled in the course.",
            },
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "unknown_faces_pending": {"type": "integer"},
            "ignored": {
                "type": "object",
                "properties": {
                    "duplicates": {"type": "integer"},
                    "outside_window": {"type": "integer"},
                    "low_confidence": {"type": "integer"},
                },
            },
            "computed_at": DATETIME,
        },
        "required": ["session", "periods", "students", "counts"],
    },
)
UNKNOWN_FACE = registry.schema(
    "UnknownFace",
    {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "session_id": {"type": "integer"},
            "device": {"type": "string"},
            "track_id": {"type": "string"},
            "decision": {"type": "string", "enum": ["pending", "assigned", "not_a_student"]},
            "student_id": {"type": ["integer", "null"]},
            "student_name": {"type": ["string", "null"]},
            "decided_by": {"type": ["string", "null"]},
            "decided_at": NULLABLE_DATETIME,
            "sightings": {"type": "integer"},
            "first_seen": NULLABLE_DATETIME,
            "last_seen": NULLABLE_DATETIME,
            "best_score": NULLABLE_NUMBER,
            "thumbnail_url": {"type": ["string", "null"], "description": "The track's best crop (JPEG)."},
            "cluster": {
                "type": ["object", "null"],
                "description": (
                    "The person the server believes this face is, across the course's sessions (null: the"
                    " track came without an embedding). Decisions on it apply to every face it holds and"
                    " must send `version` back (POST /unknown-clusters/{id})."
                ),
                "properties": {
                    "id": {"type": "integer"},
                    "version": {"type": "integer", "description": "Its member count: send it back."},
                    "faces": {"type": "integer"},
                    "sessions": {"type": "integer"},
                    "pending": {"type": "integer"},
                    "decision": {"type": "string", "enum": ["pending", "assigned", "not_a_student"]},
                    "student_id": {"type": ["integer", "null"]},
                    "student_name": {"type": ["string", "null"]},
                    "decided_by": {"type": ["string", "null"]},
                    "decided_at": NULLABLE_DATETIME,
                    "model": {"type": "string"},
                },
            },
            "suggestions": {
                "type": "array",
                "description": "Up to 3 roster students most like this face (best cosine over their "
                "enrolled faces, same embedder), best first; none is chosen for you.",
                "items": {
                    "type": "object",
                    "properties": {
                        "student_id": {"type": "integer"},
                        "student_number": {"type": "string"},
                        "name": {"type": "string"},
                        "score": {"type": "number"},
                    },
                    "required": ["student_id", "student_number", "name", "score"],
                },
            },
        },
        "required": ["id", "session_id", "device", "track_id", "decision"],
    },
)
AUDIT_ENTRY = registry.schema(
    "AuditEntry",
    {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "at": DATETIME,
            "actor": {"type": ["string", "null"]},
            "action": {"type": "string"},
            "before": {"type": ["object", "null"]},
            "after": {"type": ["object", "null"]},
            "reason": {"type": ["string", "null"]},
        },
        "required": ["id", "at", "action"],
    },
)


def session_json(lecture: LectureSession) -> dict[str, Any]:
    return {
        "id": lecture.id,
        "course": {"id": lecture.course.id, "code": lecture.course.code, "title": lecture.course.title},
        "classroom": lecture.classroom.name if lecture.classroom else None,
        "starts_at": iso(lecture.starts_at),
        "ends_at": iso(lecture.ends_at),
        "period_minutes": lecture.period_minutes,
        "status": lecture.status.value,
        "confirmed_by": lecture.confirmed_by.display_name if lecture.confirmed_by else None,
        "confirmed_at": iso(lecture.confirmed_at),
    }


def evidence_json(evidence: engine.Evidence) -> dict[str, Any]:
    return {
        "sightings": evidence.sightings,
        "first_seen": iso(evidence.first_seen),
        "last_seen": iso(evidence.last_seen),
        "best_score": evidence.best_score,
        "presence_seconds": round(evidence.presence_seconds, 3),
        "presence_fraction": round(evidence.fraction, 4),
        "arrival": iso(evidence.arrival),
        "departure": iso(evidence.departure),
    }


def _verdict(row: engine.StudentAttendance | engine.PeriodAttendance) -> dict[str, Any]:
    return {
        "status": row.status.value,
        "computed_status": row.computed_status.value,
        "source": row.source.value,
        "note": row.note,
        "reasons": [reason.value for reason in row.reasons],
        "evidence": evidence_json(row.evidence),
    }


def thumbnail_url(sighting_id: int | None) -> str | None:
    if sighting_id is None:
        return None
    return url_for("api.get_sighting_thumbnail", sighting_id=sighting_id)


def student_json(report: SessionReport, row: engine.StudentAttendance) -> dict[str, Any]:
    student: Student = report.students[row.student_id]
    return {
        "student_id": student.id,
        "student_number": student.student_number,
        "name": student.name,
        **_verdict(row),
        "thumbnail_url": thumbnail_url(report.thumbnails.get(student.id)),
        "periods": [{"index": p.period, **_verdict(p)} for p in row.periods],
        "live": live_json(report.live.get(student.id) if report.live is not None else None),
    }


def live_json(state: presence.LiveState | None) -> dict[str, Any] | None:
    return None if state is None else {"state": state.state.value, "since": iso(state.since)}


def report_json(report: SessionReport, pending_unknown: int, computed_at: Any) -> dict[str, Any]:
    result = report.result
    counts = Counter(row.status.value for row in result.students)
    return {
        "session": session_json(report.lecture),
        "periods": [
            {"index": p.index, "start": iso(p.start), "end": iso(p.end)} for p in result.plan.periods
        ],
        "students": [student_json(report, row) for row in result.students],
        "not_on_roster": [student_json(report, row) for row in result.not_on_roster],
        "counts": {status: counts.get(status, 0) for status in STATUSES},
        "unknown_faces_pending": pending_unknown,
        "ignored": {
            "duplicates": result.duplicate_events,
            "outside_window": result.ignored_outside_window,
            "low_confidence": result.ignored_low_confidence,
        },
        "computed_at": iso(computed_at),
    }


def unknown_face_json(review: UnknownFaceReview, report: SessionReport) -> dict[str, Any]:
    key = (str(review.device_id), review.track_id)
    face = next(
        (f for f in report.result.unknown_faces if (f.device_id, str(f.track_id)) == key),
        None,
    )
    return {
        "id": review.id,
        "session_id": review.session_id,
        "device": review.device.name or review.device.device_id,
        "track_id": review.track_id,
        "decision": review.decision.value,
        "student_id": review.student_id,
        "student_name": review.student.name if review.student else None,
        "decided_by": review.actor.display_name if review.actor else None,
        "decided_at": iso(review.decided_at),
        "sightings": face.sightings if face else 0,
        "first_seen": iso(face.first_seen) if face else None,
        "last_seen": iso(face.last_seen) if face else None,
        "best_score": face.best_score if face else None,
        "thumbnail_url": thumbnail_url(report.unknown_thumbnails.get(key)),
    }


def audit_json(entry: AuditLog) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": iso(entry.at),
        "actor": entry.actor.display_name if entry.actor else None,
        "action": entry.action,
        "before": entry.before,
        "after": entry.after,
        "reason": entry.reason,
    }
