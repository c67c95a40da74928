"""The JSON shapes of the attendance API: one pydantic model per shape, which validates the request,
serialises the answer and is the OpenAPI component of the same name (`server.api.shapes`).

The live roster page and the unknown-face review render the same models
(`.model_dump(mode="json")`), so the page's script shows exactly what the API returns. Request
fields that the review service also checks for the web forms use its own parsers
(`server.attendance.review`), so both refuse a value with the same sentence; the service then
applies the rules that need the session (the roster, the period count, the cluster's version)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from flask import url_for
from pydantic import MISSING, BeforeValidator, Field, ValidationInfo, WithJsonSchema

from server.api.shapes import Instant, RequestModel, ResponseModel
from server.attendance import engine, presence, review
from server.attendance.service import SessionReport
from server.db.enums import AttendanceStatus, ReviewDecision, SessionStatus
from server.db.models import AuditLog, LectureSession, Student, UnknownFaceReview
from server.db.models import LearnedFace as LearnedFaceRow
from server.db.types import INT_MAX
from server.errors import ServiceError
from server.school import fields
from server.school.schemas import CourseRef

DECISIONS = (ReviewDecision.ASSIGNED.value, ReviewDecision.NOT_A_STUDENT.value)


def _said(parse: Callable[[Any, str], Any]) -> BeforeValidator:
    """A review parser as a field validator: the same check and sentence as the web forms get."""

    def validate(value: Any, info: ValidationInfo) -> Any:
        try:
            return parse(value, info.field_name or "value")
        except ServiceError as error:
            raise ValueError(error.message) from None

    return BeforeValidator(validate)


StudentId = Annotated[int, _said(review.parse_id), WithJsonSchema(fields.ID_SCHEMA)]
Reason = Annotated[
    str,
    _said(lambda value, name: review.parse_reason(value, required=True, field=name)),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": review.MAX_REASON}),
]
OptionalReason = Annotated[
    str | None,
    _said(lambda value, name: review.parse_reason(value, required=False, field=name)),
    WithJsonSchema({"type": ["string", "null"], "maxLength": review.MAX_REASON}),
]
Decision = Annotated[
    str,
    _said(lambda value, _name: review.parse_decision(value)),
    WithJsonSchema({"type": "string", "enum": list(DECISIONS)}),
]


# --- requests ----------------------------------------------------------------------------------


class AttendanceOverrideRequest(RequestModel):
    student_id: StudentId
    period: int | None = Field(
        None,
        ge=0,
        le=INT_MAX,
        description="0-based period index (as in `periods`); null or absent: the whole session.",
    )
    status: AttendanceStatus
    reason: Reason


class RollCallEntry(RequestModel):
    student_id: StudentId
    status: AttendanceStatus


def _entries(value: Any) -> Any:
    """The roll call's own sentence for a body without entries; each entry is then a RollCallEntry."""
    if not isinstance(value, list) or not value:
        raise ValueError(review.NO_ENTRIES)
    return value


class RollCallRequest(RequestModel):
    entries: Annotated[list[RollCallEntry], BeforeValidator(_entries), Field(min_length=1)]
    reason: OptionalReason = Field(None, description=f"Default: {review.ROLL_CALL_REASON!r}.")


class UnknownFaceDecision(RequestModel):
    decision: Decision
    student_id: StudentId | None = Field(None, description="The roster student, for `assigned`.")
    reason: OptionalReason = None


class UnknownClusterDecision(RequestModel):
    decision: Decision
    student_id: StudentId | None = Field(None, description="The roster student, for `assigned` (required).")
    version: Annotated[
        int,
        _said(lambda value, _name: review.parse_version_number(value)),
        WithJsonSchema(
            {
                "type": "integer",
                "minimum": 0,
                "maximum": INT_MAX,
                "description": "The cluster's `version` as you saw it; one that changed since is a 409.",
            }
        ),
    ]
    reason: OptionalReason = None


# --- one session's attendance --------------------------------------------------------------------


class AttendanceEvidence(ResponseModel):
    """What a status rests on. Times are capture times (the device clock), UTC."""

    sightings: int
    first_seen: Instant | None
    last_seen: Instant | None
    best_score: float | None
    presence_seconds: float
    presence_fraction: float
    arrival: Instant | None
    departure: Instant | None

    @classmethod
    def of(cls, evidence: engine.Evidence) -> AttendanceEvidence:
        return cls(
            sightings=evidence.sightings,
            first_seen=evidence.first_seen,
            last_seen=evidence.last_seen,
            best_score=evidence.best_score,
            presence_seconds=round(evidence.presence_seconds, 3),
            presence_fraction=round(evidence.fraction, 4),
            arrival=evidence.arrival,
            departure=evidence.departure,
        )


class Verdict(ResponseModel):
    """A status with where it comes from (not a component: its fields are in those below)."""

    status: AttendanceStatus
    computed_status: AttendanceStatus = Field(description="What the engine alone says.")
    source: Literal["engine", "manual"]
    note: str | None = Field(description="The reason of the override in force.")
    reasons: list[str] = Field(description="Why the engine decided so.")
    evidence: AttendanceEvidence

    @staticmethod
    def fields(row: engine.StudentAttendance | engine.PeriodAttendance) -> dict[str, Any]:
        return {
            "status": row.status.value,
            "computed_status": row.computed_status.value,
            "source": row.source.value,
            "note": row.note,
            "reasons": [reason.value for reason in row.reasons],
            "evidence": AttendanceEvidence.of(row.evidence),
        }


class PeriodAttendance(Verdict):
    index: int


class LiveState(ResponseModel):
    """Where the student is now while the session runs (null before and after it): 'in' since the
    first sighting of the current run, 'out' of the room since the last sighting when that is more
    than ATTENDANCE_OUT_AFTER_SECONDS ago, 'not_seen' yet (since null)."""

    state: Literal["in", "out", "not_seen"]
    since: Instant | None

    @classmethod
    def of(cls, state: presence.LiveState | None) -> LiveState | None:
        return None if state is None else cls(state=state.state.value, since=state.since)


def thumbnail_url(sighting_id: int | None) -> str | None:
    """The face crop a device sent with a sighting (GET /sightings/{id}/thumbnail)."""
    return None if sighting_id is None else url_for("api.get_sighting_thumbnail", sighting_id=sighting_id)


class StudentAttendance(Verdict):
    student_id: int
    student_number: str
    name: str
    thumbnail_url: str | None = Field(description="Best sighting's face crop, if sent.")
    periods: list[PeriodAttendance]
    live: LiveState | None

    @classmethod
    def of(cls, report: SessionReport, row: engine.StudentAttendance) -> StudentAttendance:
        student: Student = report.students[row.student_id]
        return cls(
            student_id=student.id,
            student_number=student.student_number,
            name=student.name,
            **Verdict.fields(row),
            thumbnail_url=thumbnail_url(report.thumbnails.get(student.id)),
            periods=[PeriodAttendance(index=p.period, **Verdict.fields(p)) for p in row.periods],
            live=LiveState.of(report.live.get(student.id) if report.live is not None else None),
        )


class AttendanceSession(ResponseModel):
    id: int
    course: CourseRef
    classroom: str | None
    starts_at: Instant
    ends_at: Instant
    period_minutes: int
    status: SessionStatus
    confirmed_by: str | None
    confirmed_at: Instant | None

    @classmethod
    def of(cls, lecture: LectureSession) -> AttendanceSession:
        course = lecture.course
        return cls(
            id=lecture.id,
            course=CourseRef(id=course.id, code=course.code, title=course.title),
            classroom=lecture.classroom.name if lecture.classroom else None,
            starts_at=lecture.starts_at,
            ends_at=lecture.ends_at,
            period_minutes=lecture.period_minutes,
            status=lecture.status,
            confirmed_by=lecture.confirmed_by.display_name if lecture.confirmed_by else None,
            confirmed_at=lecture.confirmed_at,
        )


class SessionPeriod(ResponseModel):
    index: int
    start: Instant
    end: Instant


class IgnoredSightings(ResponseModel):
    duplicates: int
    outside_window: int
    low_confidence: int


class SessionAttendance(ResponseModel):
    session: AttendanceSession
    periods: list[SessionPeriod]
    students: list[StudentAttendance]
    not_on_roster: list[StudentAttendance] = Field(
        description="Recognised students who are not enrolled in the course."
    )
    counts: dict[str, int]
    unknown_faces_pending: int
    ignored: IgnoredSightings
    computed_at: Instant

    @classmethod
    def of(cls, report: SessionReport, pending_unknown: int, computed_at: datetime) -> SessionAttendance:
        result = report.result
        counts = Counter(row.status.value for row in result.students)
        return cls(
            session=AttendanceSession.of(report.lecture),
            periods=[SessionPeriod(index=p.index, start=p.start, end=p.end) for p in result.plan.periods],
            students=[StudentAttendance.of(report, row) for row in result.students],
            not_on_roster=[StudentAttendance.of(report, row) for row in result.not_on_roster],
            counts={status.value: counts.get(status.value, 0) for status in AttendanceStatus},
            unknown_faces_pending=pending_unknown,
            ignored=IgnoredSightings(
                duplicates=result.duplicate_events,
                outside_window=result.ignored_outside_window,
                low_confidence=result.ignored_low_confidence,
            ),
            computed_at=computed_at,
        )


# --- unknown faces -------------------------------------------------------------------------------


class UnknownCluster(ResponseModel):
    """The person the server believes an unknown face is, across the course's sessions. Decisions on
    it apply to every face it holds and must send `version` back (POST /unknown-clusters/{id})."""

    id: int
    version: int = Field(description="Its member count: send it back.")
    faces: int
    sessions: int
    pending: int
    decision: ReviewDecision
    student_id: int | None
    student_name: str | None
    decided_by: str | None
    decided_at: Instant | None
    model: str


class StudentSuggestion(ResponseModel):
    student_id: int
    student_number: str
    name: str
    score: float


class UnknownFace(ResponseModel):
    """A face seen in a session that matched no enrolled student. The session's list adds its
    `cluster` (null: the track came without an embedding) and `suggestions`; a decision's answer
    leaves both out."""

    id: int
    session_id: int
    device: str
    track_id: str
    decision: ReviewDecision
    student_id: int | None
    student_name: str | None
    decided_by: str | None
    decided_at: Instant | None
    sightings: int
    first_seen: Instant | None
    last_seen: Instant | None
    best_score: float | None
    thumbnail_url: str | None = Field(description="The track's best crop (JPEG).")
    cluster: UnknownCluster | MISSING | None = MISSING
    suggestions: list[StudentSuggestion] | MISSING = Field(
        MISSING,
        description="Up to 3 roster students most like this face (best cosine over their enrolled faces, "
        "same embedder), best first; none is chosen for you.",
    )

    @classmethod
    def of(cls, face_review: UnknownFaceReview, report: SessionReport) -> UnknownFace:
        key = (str(face_review.device_id), face_review.track_id)
        face = next(
            (f for f in report.result.unknown_faces if (f.device_id, str(f.track_id)) == key),
            None,
        )
        return cls(
            id=face_review.id,
            session_id=face_review.session_id,
            device=face_review.device.name or face_review.device.device_id,
            track_id=face_review.track_id,
            decision=face_review.decision,
            student_id=face_review.student_id,
            student_name=face_review.student.name if face_review.student else None,
            decided_by=face_review.actor.display_name if face_review.actor else None,
            decided_at=face_review.decided_at,
            sightings=face.sightings if face else 0,
            first_seen=face.first_seen if face else None,
            last_seen=face.last_seen if face else None,
            best_score=face.best_score if face else None,
            thumbnail_url=thumbnail_url(report.unknown_thumbnails.get(key)),
        )


class LearnedFace(ResponseModel):
    id: int
    student_id: int
    student_name: str
    student_number: str
    session_id: int | None
    sighting_id: int | None
    template_id: int
    created_at: Instant
    thumbnail_url: str | None

    @classmethod
    def of(cls, learned: LearnedFaceRow) -> LearnedFace:
        return cls(
            id=learned.id,
            student_id=learned.student_id,
            student_name=learned.student.name,
            student_number=learned.student.student_number,
            session_id=learned.session_id,
            sighting_id=learned.sighting_id,
            template_id=learned.template_id,
            created_at=learned.created_at,
            thumbnail_url=(
                thumbnail_url(learned.sighting_id)
                if learned.sighting_id is not None and learned.session_id is not None
                else None
            ),
        )


class UnlearnedFace(ResponseModel):
    deleted: int
    galleries: dict[str, int] = Field(description="Per course id, the gallery version published now.")


class UnknownFaceMatch(ResponseModel):
    face_id: int | None
    session_id: int
    course: str
    captured_at: Instant
    device_id: int
    track_id: str
    score: float
    thumbnail_url: str | None


class UnknownFaceSearch(ResponseModel):
    faces_in_key: int
    threshold: float
    matches: list[UnknownFaceMatch]


# --- changes and their answers -------------------------------------------------------------------


class AttendanceOverrideResult(ResponseModel):
    override_id: int
    student: StudentAttendance


class RollCallResult(ResponseModel):
    changed: list[int] = Field(description="Student ids overridden.")
    unchanged: list[int] = Field(description="Already so.")
    audit_id: int | None


class UnknownFaceDecisionResult(ResponseModel):
    face: UnknownFace
    relabelled: int


class UnknownClusterDecisionResult(ResponseModel):
    cluster: UnknownCluster
    decided: list[int] = Field(description="Review ids decided now.")
    sessions: list[int]
    relabelled: int


class AuditEntry(ResponseModel):
    id: int
    at: Instant
    actor: str | None
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None

    @classmethod
    def of(cls, entry: AuditLog) -> AuditEntry:
        return cls(
            id=entry.id,
            at=entry.at,
            actor=entry.actor.display_name if entry.actor else None,
            action=entry.action,
            before=entry.before,
            after=entry.after,
            reason=entry.reason,
        )


# --- a student's own attendance ------------------------------------------------------------------


class AttendanceStudent(ResponseModel):
    id: int
    student_number: str
    name: str


class MySessionAttendance(ResponseModel):
    session: AttendanceSession
    attendance: StudentAttendance


class MyAttendance(ResponseModel):
    student: AttendanceStudent
    sessions: list[MySessionAttendance]
