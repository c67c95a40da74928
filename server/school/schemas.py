"""The JSON shapes of the school API (courses, rosters, students, classrooms, devices, sessions):
one pydantic model per shape, which validates the request, serialises the answer and is the
OpenAPI component of the same name (`server.api.shapes`).

Request fields use the validators of `server.school.fields` and `server.school.times` (the web forms
use them too), so the API and the pages refuse the same values with the same sentences; the
services then apply the rules that need the database (an instructor that exists, a free room)."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from flask_babel import gettext
from pydantic import BeforeValidator, Field, WithJsonSchema, model_validator

from server.api.shapes import Instant, QueryInt, QueryModel, RequestModel, ResponseModel
from server.db.enums import SessionStatus
from server.db.models import Classroom as ClassroomRow
from server.db.models import Course as CourseRow
from server.db.models import Device as DeviceRow
from server.db.models import LectureSession as LectureSessionRow
from server.db.models import Student as StudentRow
from server.i18n import N_
from server.school import fields, times
from server.school.calibration import CalibrationProposal
from server.school.errors import Invalid
from server.school.fields import DeviceId, NullableId, StudentNumber, Text
from server.school.schedule import period_count
from server.school.students import MAX_ROSTER_BATCH

OFFSET_DATETIME: dict[str, Any] = {
    "type": "string",
    "format": "date-time",
    "description": "ISO 8601 with a UTC offset (naive times are refused).",
}
MINUTES: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": 24 * 60}
DATE = WithJsonSchema({"type": "string", "format": "date"})


def _named(check: Callable[[Any, str], Any], name: str, keep: bool = False) -> BeforeValidator:
    """A `server.school.times` check under the name its sentence uses (`weekly.weekday`); with
    `keep`, the value is passed on as sent (the service reads it again)."""

    def validate(value: Any) -> Any:
        try:
            checked = check(value, name)
        except Invalid as error:
            raise ValueError(error.message) from None
        return value if keep else checked

    return BeforeValidator(validate)


def _minutes(name: str) -> BeforeValidator:
    return _named(lambda value, label: fields.integer(value, label, 1, 24 * 60), name)


# --- requests ----------------------------------------------------------------------------------


class CourseCreate(RequestModel):
    code: Text(32)
    title: Text(200)
    instructor_id: NullableId = None


class CourseUpdate(RequestModel):
    """Instructors may change the title; code and instructor_id are for administrators."""

    code: Text(32) = None
    title: Text(200) = None
    instructor_id: NullableId = None


class StudentUpdate(RequestModel):
    student_number: StudentNumber = None
    name: Text(200) = None
    user_id: NullableId = Field(None, description="A 'student' account (administrators only).")


class StudentCreate(StudentUpdate):
    student_number: StudentNumber
    name: Text(200)
    course_id: NullableId = Field(
        None, description="Put the new student on this course's roster (required for instructors)."
    )


class RosterRequest(RequestModel):
    """All or nothing: one unknown number changes nothing (400 lists them in
    `unknown_student_numbers`)."""

    student_numbers: Annotated[
        list[str],
        _named(lambda value, name: fields.string_list(value, name, MAX_ROSTER_BATCH), "student_numbers"),
        WithJsonSchema(
            {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": MAX_ROSTER_BATCH}
        ),
    ]


class ClassroomRequest(RequestModel):
    name: Text(100)


def _device_name(value: Any) -> Any:
    """Null or empty: the device's name will be its device_id."""
    if value is None or value == "":
        return None
    try:
        return fields.text(value, "name", 100)
    except Invalid as error:
        raise ValueError(error.message) from None


class DeviceCreate(RequestModel):
    device_id: DeviceId
    name: Annotated[
        str | None,
        BeforeValidator(_device_name),
        WithJsonSchema(
            {
                "anyOf": [fields.text_schema(100), {"type": "null"}, {"type": "string", "maxLength": 0}],
                "description": "Null or empty: the device_id.",
            }
        ),
    ] = None
    classroom_id: NullableId = None


class DeviceUpdate(RequestModel):
    """Rename or move a device; its device_id cannot change."""

    name: Text(100) = None
    classroom_id: NullableId = None

    @model_validator(mode="before")
    @classmethod
    def _identity_stays(cls, data: Any) -> Any:
        if isinstance(data, dict) and "device_id" in data:
            raise ValueError(
                gettext(
                    "'device_id' cannot change (it is the device's identity on MQTT): register a new device"
                )
            )
        return data


class Weekly(RequestModel):
    weekday: Annotated[
        str,
        _named(times.weekday, "weekly.weekday", keep=True),
        WithJsonSchema({"type": "string", "description": "A day name: 'monday' or 'mon'."}),
    ]
    start_time: Annotated[
        str,
        _named(times.clock_time, "weekly.start_time", keep=True),
        WithJsonSchema({"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]", "example": "09:00"}),
    ]
    duration_minutes: Annotated[int, _minutes("weekly.duration_minutes"), WithJsonSchema(MINUTES)]
    first_date: Annotated[str, _named(times.local_date, "weekly.first_date", keep=True), DATE]
    last_date: Annotated[str, _named(times.local_date, "weekly.last_date", keep=True), DATE]
    timezone: Annotated[
        str,
        _named(times.zone, "weekly.timezone", keep=True),
        WithJsonSchema({"type": "string", "description": "IANA zone, e.g. Asia/Seoul."}),
    ]


def _required_id(value: Any, name: str) -> int:
    if value is None:
        raise Invalid(gettext("'%(name)s' is required: the id of a classroom", name=name))
    return fields.integer(value, name, 1, fields.INT_MAX)


class LectureSessionCreate(RequestModel):
    """One session (starts_at, ends_at) or a weekly series (weekly), all or nothing; a session
    overlapping another in the same classroom is refused with 409."""

    model_config = RequestModel.model_config | {
        "json_schema_extra": {"oneOf": [{"required": ["starts_at", "ends_at"]}, {"required": ["weekly"]}]}
    }

    classroom_id: Annotated[int, _named(_required_id, "classroom_id"), WithJsonSchema(fields.ID_SCHEMA)]
    period_minutes: Annotated[int, _minutes("period_minutes"), WithJsonSchema({**MINUTES, "default": 60})] = (
        60
    )
    starts_at: Annotated[datetime, _named(times.instant, "starts_at"), WithJsonSchema(OFFSET_DATETIME)] = None
    ends_at: Annotated[datetime, _named(times.instant, "ends_at"), WithJsonSchema(OFFSET_DATETIME)] = None
    weekly: Weekly = None

    @model_validator(mode="before")
    @classmethod
    def _one_or_a_series(cls, data: Any) -> Any:
        if isinstance(data, dict) and "weekly" in data and ("starts_at" in data or "ends_at" in data):
            raise ValueError(
                gettext(
                    "give either 'starts_at' and 'ends_at' (one session) or 'weekly' (a series), not both"
                )
            )
        return data


# --- query parameters --------------------------------------------------------------------------


class StudentQuery(QueryModel):
    q: str = Field("", description="Number prefix or part of the name.")
    limit: QueryInt("limit", 1, 1000) = 100
    offset: QueryInt("offset", 0, fields.INT_MAX) = 0  # 10^20 was a LIMIT MariaDB cannot parse: 500


class SessionQuery(QueryModel):
    since: Annotated[datetime, _named(times.instant, "from"), WithJsonSchema(OFFSET_DATETIME)] = Field(
        None, alias="from", description="Sessions ending after this instant."
    )
    until: Annotated[datetime, _named(times.instant, "to"), WithJsonSchema(OFFSET_DATETIME)] = Field(
        None, alias="to", description="Sessions starting before this instant."
    )


# --- responses ---------------------------------------------------------------------------------


class Course(ResponseModel):
    id: int
    code: str
    title: str
    instructor_id: int | None
    instructor_name: str | None
    student_count: int
    created_at: Instant

    @classmethod
    def of(cls, course: CourseRow, student_count: int) -> Course:
        teacher = course.instructor
        return cls(
            id=course.id,
            code=course.code,
            title=course.title,
            instructor_id=course.instructor_id,
            instructor_name=teacher.display_name if teacher else None,
            student_count=student_count,
            created_at=course.created_at,
        )


class CourseRef(ResponseModel):
    id: int
    code: str
    title: str


class Student(ResponseModel):
    id: int
    student_number: str = Field(pattern="^[A-Z0-9._-]{1,32}$")
    name: str
    user_id: int | None
    face_photos: int = Field(description="Enrolment embeddings (accepted photos).")
    created_at: Instant

    @classmethod
    def of(cls, student: StudentRow, face_photos: int = 0) -> Student:
        return cls(
            id=student.id,
            student_number=student.student_number,
            name=student.name,
            user_id=student.user_id,
            face_photos=face_photos,
            created_at=student.created_at,
        )


class StudentDetail(Student):
    courses: list[CourseRef] = Field(description="Those you may see.")


class Classroom(ResponseModel):
    id: int
    name: str
    device_ids: list[str] = Field(description="Devices installed there.")

    @classmethod
    def of(cls, room: ClassroomRow) -> Classroom:
        return cls(id=room.id, name=room.name, device_ids=sorted(d.device_id for d in room.devices))


class Device(ResponseModel):
    id: int
    device_id: str = Field(pattern="^[A-Za-z0-9_-]{1,64}$")
    name: str
    classroom_id: int | None
    classroom_name: str | None
    created_at: Instant

    @classmethod
    def of(cls, device: DeviceRow) -> Device:
        return cls(
            id=device.id,
            device_id=device.device_id,
            name=device.name,
            classroom_id=device.classroom_id,
            classroom_name=device.classroom.name if device.classroom else None,
            created_at=device.created_at,
        )


class LectureSession(ResponseModel):
    id: int
    course_id: int
    course_code: str
    classroom_id: int | None
    classroom_name: str | None
    starts_at: Instant
    ends_at: Instant
    period_minutes: int
    periods: int = Field(description="Number of periods (the last may be shorter).")
    status: SessionStatus
    confirmed_at: Instant | None

    @classmethod
    def of(cls, lecture: LectureSessionRow) -> LectureSession:
        return cls(
            id=lecture.id,
            course_id=lecture.course_id,
            course_code=lecture.course.code,
            classroom_id=lecture.classroom_id,
            classroom_name=lecture.classroom.name if lecture.classroom else None,
            starts_at=lecture.starts_at,
            ends_at=lecture.ends_at,
            period_minutes=lecture.period_minutes,
            periods=period_count(lecture),
            status=lecture.status,
            confirmed_at=lecture.confirmed_at,
        )


class LectureSessionsCreated(ResponseModel):
    sessions: list[LectureSession]


class RosterAdded(ResponseModel):
    added: list[str]
    already_enrolled: list[str]
    student_count: int


class RosterRemoved(ResponseModel):
    removed: list[str]
    not_enrolled: list[str]
    student_count: int


class ErasedCounts(ResponseModel):
    face_templates: int
    sightings: int
    overrides: int


class StudentErased(ResponseModel):
    deleted: ErasedCounts


# --- calibration (server/school/calibration_api.py) --------------------------------------------


def _confirm(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(N_("'confirm_below_global' must be true or false"))
    return value


def _expected_threshold(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("'threshold' must be a number")  # null too: the schema says a number
    if not -10 <= value <= 10 or not math.isfinite(value):
        raise ValueError("'threshold' must be between -10 and 10")
    return float(value)


class CalibrationAccept(RequestModel):
    confirm_below_global: Annotated[
        bool,
        BeforeValidator(_confirm),
        WithJsonSchema(
            {"type": "boolean", "description": "Needed when the proposal is below the global default."}
        ),
    ] = False
    threshold: Annotated[
        float,
        BeforeValidator(_expected_threshold),
        WithJsonSchema(
            {
                "type": "number",
                "minimum": -10,
                "maximum": 10,
                "description": "The proposed threshold the caller saw: 409 when the proposal changed since.",
            }
        ),
    ] = None


class AcceptedCalibration(ResponseModel):
    """The thresholds an administrator accepted. `applies` is false when they were calibrated for
    another embedder than the gallery's current one (the global default is used then)."""

    model: str
    applies: bool
    threshold: float
    unknown_threshold: float
    target_far: float
    genuine_pairs: int
    impostor_pairs: int
    global_threshold: float
    accepted_by: str | None
    accepted_at: Instant


class ThresholdsInUse(ResponseModel):
    """What the course's gallery carries to devices now."""

    source: Literal["course", "global"]
    threshold: float
    unknown_threshold: float


class CourseCalibration(ResponseModel):
    course_id: int
    proposal: CalibrationProposal
    accepted: AcceptedCalibration | None = Field(description="Null: none accepted.")
    in_use: ThresholdsInUse
