"""The JSON shapes of the school resources, with their OpenAPI schemas beside the functions that
produce them (so the document and the answers cannot drift apart unnoticed)."""

from __future__ import annotations

from typing import Any

from server.api.endpoints import registry
from server.api.io import DATETIME, NULLABLE_DATETIME, iso
from server.db.models import Classroom, Course, Device, LectureSession, Student
from server.school.schedule import period_count

ID = {"type": "integer"}
NULLABLE_ID = {"type": ["integer", "null"]}
STRING = {"type": "string"}
NULLABLE_STRING = {"type": ["string", "null"]}


def _object(properties: dict[str, Any], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
    }


COURSE = registry.schema(
    "Course",
    _object(
        {
            "id": ID,
            "code": STRING,
            "title": STRING,
            "instructor_id": NULLABLE_ID,
            "instructor_name": NULLABLE_STRING,
            "student_count": ID,
            "created_at": DATETIME,
        }
    ),
)
STUDENT = registry.schema(
    "Student",
    _object(
        {
            "id": ID,
            "student_number": {"type": "string", "pattern": "^[A-Z0-9._-]{1,32}$"},
            "name": STRING,
            "user_id": NULLABLE_ID,
            "face_photos": {"type": "integer", "description": "Enrolment embeddings (accepted photos)."},
            "created_at": DATETIME,
        }
    ),
)
COURSE_REF = registry.schema("CourseRef", _object({"id": ID, "code": STRING, "title": STRING}))
STUDENT_DETAIL = registry.schema(
    "StudentDetail",
    {
        "allOf": [
            STUDENT,
            _object({"courses": {"type": "array", "items": COURSE_REF, "description": "Those you may see."}}),
        ]
    },
)
CLASSROOM = registry.schema(
    "Classroom",
    _object(
        {
            "id": ID,
            "name": STRING,
            "device_ids": {"type": "array", "items": STRING, "description": "Devices installed there."},
        }
    ),
)
DEVICE = registry.schema(
    "Device",
    _object(
        {
            "id": ID,
            "device_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
            "name": STRING,
            "classroom_id": NULLABLE_ID,
            "classroom_name": NULLABLE_STRING,
            "created_at": DATETIME,
        }
    ),
)
LECTURE_SESSION = registry.schema(
    "LectureSession",
    _object(
        {
            "id": ID,
            "course_id": ID,
            "course_code": STRING,
            "classroom_id": NULLABLE_ID,
            "classroom_name": NULLABLE_STRING,
            "starts_at": DATETIME,
            "ends_at": DATETIME,
            "period_minutes": ID,
            "periods": {"type": "integer", "description": "Number of periods (the last may be shorter)."},
            "status": {"type": "string", "enum": ["scheduled", "confirmed"]},
            "confirmed_at": NULLABLE_DATETIME,
        }
    ),
)


def course_json(course: Course, student_count: int) -> dict[str, Any]:
    return {
        "id": course.id,
        "code": course.code,
        "title": course.title,
        "instructor_id": course.instructor_id,
        "instructor_name": course.instructor.display_name if course.instructor else None,
        "student_count": student_count,
        "created_at": iso(course.created_at),
    }


def student_json(student: Student, face_photos: int = 0) -> dict[str, Any]:
    return {
        "id": student.id,
        "student_number": student.student_number,
        "name": student.name,
        "user_id": student.user_id,
        "face_photos": face_photos,
        "created_at": iso(student.created_at),
    }


def course_ref(course: Course) -> dict[str, Any]:
    return {"id": course.id, "code": course.code, "title": course.title}


def classroom_json(room: Classroom) -> dict[str, Any]:
    return {"id": room.id, "name": room.name, "device_ids": sorted(d.device_id for d in room.devices)}


def device_json(device: Device) -> dict[str, Any]:
    return {
        "id": device.id,
        "device_id": device.device_id,
        "name": device.name,
        "classroom_id": device.classroom_id,
        "classroom_name": device.classroom.name if device.classroom else None,
        "created_at": iso(device.created_at),
    }


def session_json(lecture: LectureSession) -> dict[str, Any]:
    return {
        "id": lecture.id,
        "course_id": lecture.course_id,
        "course_code": lecture.course.code,
        "classroom_id": lecture.classroom_id,
        "classroom_name": lecture.classroom.name if lecture.classroom else None,
        "starts_at": iso(lecture.starts_at),
        "ends_at": iso(lecture.ends_at),
        "period_minutes": lecture.period_minutes,
        "periods": period_count(lecture),
        "status": lecture.status.value,
        "confirmed_at": iso(lecture.confirmed_at),
    }
