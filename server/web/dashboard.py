"""What each role's home page shows, as one JSON document: the page renders it and static/dashboard.js
polls it (GET /api/v1/dashboard) to keep the counts live without a reload.

Nothing is recomputed differently here: session counts come from the attendance service
(`compute_session`, the same statuses, live "out" state and unknown faces as the review page), device
figures from `server.devices.service.overview`, album people from `server.album.people`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from flask import url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.album import library
from server.album import people as album_people
from server.album.schemas import AlbumPerson as PersonShape
from server.album.schemas import AlbumPhoto as PhotoShape
from server.api.io import iso
from server.attendance import clock
from server.attendance.loading import pending_count
from server.attendance.presence import Presence
from server.attendance.schemas import AttendanceSession
from server.attendance.service import compute_session, sessions_between
from server.db.enums import Role, SessionStatus
from server.db.models import AlbumPerson, AlbumPhoto, Course, Job, LectureSession, RejectedMessage, User
from server.db.models.jobs import JobStatus
from server.devices import service as devices

NEXT_SESSIONS = 5  # sessions after today shown to an instructor
UNCONFIRMED_LIMIT = 20  # past sessions waiting for confirmation, newest first
RECENT_PHOTOS = 12
TOP_PEOPLE = 8
RECENT_WINDOW = timedelta(hours=24)  # rejected messages and failed jobs "lately"


def dashboard(db: Session, user: User, config: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The signed-in user's home figures; a section is null when the role does not have it."""
    role = user.role
    return {
        "role": role.value,
        "generated_at": iso(now),
        "instructor": instructor_section(db, user, config, now) if role == Role.INSTRUCTOR else None,
        "admin": admin_section(db, now) if role == Role.ADMIN else None,
        "album": album_section(db, user) if role == Role.ALBUM_USER else None,
    }


# ----------------------------------------------------------------------------- instructor


def session_counts(db: Session, lecture: LectureSession, config: Mapping[str, Any]) -> dict[str, int]:
    """present / late / left early / absent / out (now) / unknown (faces waiting for review), from
    the same report the review page shows. Only for a session that has started."""
    report = compute_session(db, lecture, config)
    statuses = [row.status.value for row in report.result.students]
    live = report.live or {}
    return {
        "present": statuses.count("present"),
        "late": statuses.count("late") + statuses.count("late_and_left_early"),
        "left_early": statuses.count("left_early") + statuses.count("late_and_left_early"),
        "absent": statuses.count("absent"),
        "out": sum(1 for state in live.values() if state.state == Presence.OUT),
        "unknown": pending_count(db, lecture),
        "students": len(statuses),
    }


def _session(lecture: LectureSession) -> dict[str, Any]:
    return AttendanceSession.of(lecture).model_dump(mode="json")


def session_card(
    db: Session, lecture: LectureSession, config: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    started = lecture.starts_at <= now
    return {
        **_session(lecture),
        "state": "running" if started and now < lecture.ends_at else "ended" if started else "upcoming",
        "counts": session_counts(db, lecture, config) if started else None,
        "url": url_for("attendance.session_page", session_id=lecture.id),
    }


def instructor_section(db: Session, user: User, config: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """Today's sessions (the deployment's local day) with live counts, the next ones, and ended
    sessions nobody has confirmed yet."""
    day = clock.today(config)
    start, end = clock.day_bounds(day, config)
    today = sessions_between(db, start, end, user.id)
    mine = (
        select(LectureSession)
        .join(Course, Course.id == LectureSession.course_id)
        .where(Course.instructor_id == user.id)
    )
    upcoming = db.scalars(
        mine.where(LectureSession.starts_at >= end)
        .order_by(LectureSession.starts_at, LectureSession.id)
        .limit(NEXT_SESSIONS)
    ).all()
    unconfirmed = db.scalars(
        mine.where(
            LectureSession.ends_at <= now,
            LectureSession.status != SessionStatus.CONFIRMED,
            LectureSession.starts_at < start,  # today's are in the list above
        )
        .order_by(LectureSession.starts_at.desc(), LectureSession.id.desc())
        .limit(UNCONFIRMED_LIMIT)
    ).all()
    return {
        "day": day.isoformat(),
        "timezone": clock.zone(config).key,
        "today": [session_card(db, s, config, now) for s in today],
        "next": [session_card(db, s, config, now) for s in upcoming],
        "unconfirmed": [
            {**_session(s), "url": url_for("attendance.session_page", session_id=s.id)} for s in unconfirmed
        ],
    }


# ----------------------------------------------------------------------------- administrator


def admin_section(db: Session, now: datetime) -> dict[str, Any]:
    """Devices online/offline (as ingest last heard them), refused MQTT messages and the job queue."""
    entries = devices.overview(db)
    since = now - RECENT_WINDOW
    rejected_recent = db.scalar(
        select(func.count()).select_from(RejectedMessage).where(RejectedMessage.received_at >= since)
    )
    newest = devices.rejected(db, None, 5)
    jobs = {row[0]: row[1] for row in db.execute(select(Job.status, func.count()).group_by(Job.status))}
    failed_recent = db.scalar(
        select(func.count()).select_from(Job).where(Job.status == JobStatus.FAILED, Job.finished_at >= since)
    )
    return {
        "devices": {
            "total": len(entries),
            "online": sum(1 for d in entries if d["online"]),
            "offline": sum(1 for d in entries if not d["online"]),
            "offline_names": [d["name"] or d["device_id"] for d in entries if not d["online"]],
        },
        "rejected": {
            "last_24h": int(rejected_recent or 0),
            "newest": [
                {"device_id": r.device_id, "reason": r.reason, "received_at": iso(r.received_at)}
                for r in newest
            ],
        },
        "jobs": {
            "queued": int(jobs.get(JobStatus.QUEUED, 0)),
            "running": int(jobs.get(JobStatus.RUNNING, 0)),
            "failed_24h": int(failed_recent or 0),
        },
    }


# ----------------------------------------------------------------------------- album user


def album_section(db: Session, user: User) -> dict[str, Any]:
    """Indexing counts, the newest uploads and the people with the most faces."""
    states = library.status_counts(db, user.id)
    recent = db.scalars(
        select(AlbumPhoto)
        .where(AlbumPhoto.owner_id == user.id)
        .order_by(AlbumPhoto.created_at.desc(), AlbumPhoto.id.desc())
        .limit(RECENT_PHOTOS)
    ).all()
    counts = album_people.face_counts(db, user.id)
    people = sorted(album_people.people_of(db, user.id), key=lambda p: (-counts.get(p.id, 0), p.id))[
        :TOP_PEOPLE
    ]
    return {
        "photos": states | {"total": sum(states.values())},
        "recent": [PhotoShape.of(p).model_dump(mode="json", include=set(PHOTO_KEYS)) for p in recent],
        "people": [_person(db, p, counts.get(p.id, 0)) for p in people],
    }


PHOTO_KEYS = ("id", "filename", "status", "created_at", "face_count", "thumbnail_url")


def _person(db: Session, person: AlbumPerson, faces: int) -> dict[str, Any]:
    body = PersonShape.of(person, faces, album_people.cover_face(db, person)).model_dump(mode="json")
    return {key: body[key] for key in ("id", "name", "faces", "cover_url")} | {
        "url": url_for("album.person_page", person_id=person.id)
    }
