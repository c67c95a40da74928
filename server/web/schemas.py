"""The JSON shape of GET /api/v1/dashboard (the home page's figures, `server.web.dashboard`): one
pydantic model per shape (`server.api.shapes`), built on the attendance, device and album shapes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, WithJsonSchema

from server.api.shapes import Instant, ResponseModel
from server.attendance.schemas import AttendanceSession
from server.db.enums import Role


class DashboardCounts(ResponseModel):
    """late/left_early include 'late & left early'; out: in the room no longer (live, while it runs);
    unknown: unknown faces waiting for review."""

    present: int
    late: int
    left_early: int
    absent: int
    out: int
    unknown: int
    students: int


class DashboardSessionLink(AttendanceSession):
    url: str = Field(description="The session's review page.")


class DashboardSession(DashboardSessionLink):
    state: Literal["upcoming", "running", "ended"]
    counts: DashboardCounts | None = Field(description="Null before the session starts.")


class InstructorDashboard(ResponseModel):
    day: Annotated[str, WithJsonSchema({"type": "string", "format": "date"})]
    timezone: str
    today: list[DashboardSession]
    next: list[DashboardSession]
    unconfirmed: list[DashboardSessionLink]


class DeviceCounts(ResponseModel):
    total: int
    online: int
    offline: int
    offline_names: list[str]


class RecentRejection(ResponseModel):
    device_id: str | None
    reason: str
    received_at: Instant


class RejectedCounts(ResponseModel):
    last_24h: int
    newest: list[RecentRejection]


class JobCounts(ResponseModel):
    queued: int
    running: int
    failed_24h: int


class AdminDashboard(ResponseModel):
    devices: DeviceCounts
    rejected: RejectedCounts
    jobs: JobCounts


class DashboardPhoto(ResponseModel):
    id: int
    filename: str
    status: str
    created_at: Instant
    face_count: int | None
    thumbnail_url: str


class DashboardPerson(ResponseModel):
    id: int
    name: str | None
    faces: int
    cover_url: str | None
    url: str


class AlbumDashboard(ResponseModel):
    photos: dict[str, int] = Field(description="Photos by indexing status, and the total.")
    recent: list[DashboardPhoto]
    people: list[DashboardPerson]


class Dashboard(ResponseModel):
    """One section per role; the others are null."""

    role: Role
    generated_at: Instant
    instructor: InstructorDashboard | None
    admin: AdminDashboard | None
    album: AlbumDashboard | None
