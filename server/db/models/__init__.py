"""Every table of the server, importable from one place (`from server.db.models import User`).

Importing this package registers all tables on `Base.metadata`, which is what Alembic compares.
"""

from server.db.models.accounts import ApiToken, LoginAttempt, User
from server.db.models.album import (
    Album,
    AlbumFace,
    AlbumFaceRejection,
    AlbumFeatureFace,
    AlbumPerson,
    AlbumPhoto,
    AlbumSearch,
)
from server.db.models.audit import AttendanceOverride, AuditLog
from server.db.models.calibration import CourseThreshold
from server.db.models.commands import DeviceCommand
from server.db.models.deepfake import CheckStatus, DeepfakeCheck, DeepfakeFace
from server.db.models.enrolment import EnrolmentRejection
from server.db.models.evidence import (
    CourseGallery,
    FaceTemplate,
    LearnedFace,
    Sighting,
    UnknownCluster,
    UnknownClusterMember,
    UnknownFaceReview,
)
from server.db.models.ingest import DeviceHealth, DeviceTelemetry, RejectedMessage
from server.db.models.jobs import Job, JobStatus
from server.db.models.school import Classroom, Course, Device, LectureSession, Student, course_students

__all__ = [
    "Album",
    "AlbumFace",
    "AlbumFaceRejection",
    "AlbumFeatureFace",
    "AlbumPerson",
    "AlbumPhoto",
    "AlbumSearch",
    "ApiToken",
    "AttendanceOverride",
    "AuditLog",
    "CheckStatus",
    "Classroom",
    "Course",
    "CourseGallery",
    "CourseThreshold",
    "DeepfakeCheck",
    "DeepfakeFace",
    "Device",
    "DeviceCommand",
    "DeviceHealth",
    "DeviceTelemetry",
    "EnrolmentRejection",
    "FaceTemplate",
    "Job",
    "JobStatus",
    "LearnedFace",
    "LectureSession",
    "LoginAttempt",
    "RejectedMessage",
    "Sighting",
    "Student",
    "UnknownCluster",
    "UnknownClusterMember",
    "UnknownFaceReview",
    "User",
    "course_students",
]
