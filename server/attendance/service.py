"""Attendance of a lecture session from the database: load the inputs, run the engine, apply overrides.

    report = compute_session(db_session, lecture, current_app.config)
    report.result.students          # engine rows with the instructor's overrides applied
    report.students[student_id]     # the Student row behind an id

Everything here reads; nothing is cached or stored, so a recompute is just a call, gives the
same answer for the same rows (the engine is deterministic) and never depends on how often it
ran before. The only write is `attach_sightings`, which gives a newly scheduled session the free
sightings its room recorded in its window (by the schedule's rule, `server.school.schedule.lecture_at`);
`server.attendance.refresh` calls it, never a read.

Attendance is computed from `Sighting.captured_at` (the device's clock), never `received_at`.

Settings: ATTENDANCE_* (`VISAGE_<KEY>`), typed in server/settings/attendance.py and listed in
docs/configuration.md; the functions below take a config mapping (the app's, or a variant of it)
and validate its attendance keys with that model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.attendance import engine, presence
from server.config import ConfigError
from server.db.models import AttendanceOverride, Course, Device, LectureSession, Sighting, Student
from server.db.models.school import course_students
from server.db.types import utcnow
from server.school.schedule import lecture_at, room_lectures
from server.settings.attendance import AttendanceSettings


class AttendanceConfigError(ValueError):
    """An attendance setting the operator must fix (its message names the setting)."""


def settings_from_config(config: Mapping[str, Any]) -> AttendanceSettings:
    """The attendance keys of `config`, typed and checked (defaults where unset)."""
    try:
        return AttendanceSettings.from_config(config)
    except ConfigError as exc:
        raise AttendanceConfigError(str(exc)) from None


def policy_from_config(config: Mapping[str, Any]) -> engine.AttendancePolicy:
    """The institution's attendance rules from the ATTENDANCE_* settings (defaults where unset)."""
    settings = settings_from_config(config)
    try:
        return engine.AttendancePolicy(
            late_after=timedelta(minutes=settings.late_after_minutes),
            left_early_before=timedelta(minutes=settings.left_early_minutes),
            min_presence_fraction=settings.min_presence,
            gap_tolerance=timedelta(minutes=settings.gap_tolerance_minutes),
            dwell=timedelta(seconds=settings.dwell_seconds),
            min_confidence=settings.min_confidence,
            min_sightings=settings.min_sightings,
            window_margin=timedelta(minutes=settings.window_margin_minutes),
        )
    except ValueError as exc:
        if isinstance(exc, AttendanceConfigError):
            raise
        raise AttendanceConfigError(f"invalid attendance settings: {exc}") from exc


def out_after_from_config(config: Mapping[str, Any]) -> timedelta:
    """How long unseen means "out of the room" on the live roster (presence.py); positive."""
    return settings_from_config(config).out_after


def plan_for(lecture: LectureSession, config: Mapping[str, Any]) -> engine.SessionPlan:
    """The session's periods: `period_minutes` long from `starts_at`, the last one cut at `ends_at`."""
    return engine.SessionPlan(
        start=lecture.starts_at,
        end=lecture.ends_at,
        period_length=timedelta(minutes=lecture.period_minutes),
        break_length=timedelta(minutes=settings_from_config(config).break_minutes),
    )


# ----------------------------------------------------------------------------- attaching sightings


def attach_sightings(db: Session, lecture: LectureSession, config: Mapping[str, Any]) -> int:
    """Give `lecture` the sightings of its room's devices in its window that have no session yet.

    For a session just created or moved (ingest places every sighting it stores by the same rule,
    `server.school.schedule.lecture_at`): a sighting goes to the session of its room nearest to
    it within the policy's margin (the earlier one on a tie), so one during another session
    stays free for that one. Idempotent; returns how many rows it attached (not committed).
    """
    if lecture.classroom_id is None:
        return 0
    margin = policy_from_config(config).window_margin
    lo, hi = lecture.starts_at - margin, lecture.ends_at + margin
    devices = select(Device.id).where(Device.classroom_id == lecture.classroom_id)
    room = room_lectures(db, lecture.classroom_id, lo, hi, margin)
    candidates = db.execute(
        select(Sighting.id, Sighting.captured_at).where(
            Sighting.session_id.is_(None),
            Sighting.device_id.in_(devices),
            Sighting.captured_at >= lo,
            Sighting.captured_at <= hi,
        )
    ).all()
    ids = [
        row.id
        for row in candidates
        if getattr(lecture_at(room, row.captured_at, margin), "id", None) == lecture.id
    ]
    for chunk in range(0, len(ids), 500):
        db.execute(
            update(Sighting)
            .where(Sighting.id.in_(ids[chunk : chunk + 500]), Sighting.session_id.is_(None))
            .values(session_id=lecture.id)
        )
    return len(ids)


# ----------------------------------------------------------------------------- computing


@dataclass(frozen=True)
class SessionReport:
    """A session's attendance and what the UI, the API and the export need beside it."""

    lecture: LectureSession
    result: engine.SessionAttendance  # overrides applied
    students: dict[int, Student]  # roster and not-on-roster students by id
    overrides: dict[tuple[int, int | None], AttendanceOverride]  # in force, by (student, period)
    thumbnails: dict[int, int]  # student id -> id of their best sighting that has a thumbnail
    unknown_thumbnails: dict[tuple[str, str], int]  # (device id, track id) -> sighting id
    # Live state per student at `now` (presence.py); None while the session is not running.
    live: dict[int, presence.LiveState] | None = None

    @property
    def roster(self) -> list[Student]:
        return [self.students[row.student_id] for row in self.result.students]


def roster_ids(db: Session, course_id: int) -> list[int]:
    return list(
        db.scalars(select(course_students.c.student_id).where(course_students.c.course_id == course_id))
    )


def overrides_in_force(
    db: Session, lecture: LectureSession, student_ids: Iterable[int] | None = None
) -> dict[tuple[int, int | None], AttendanceOverride]:
    """The latest override per (student, period) of the session: earlier ones are history. A
    correction for the whole session covers every period, so it also retires that student's period
    corrections made before it; one made after it stands (engine rule 9 combines the two)."""
    query = select(AttendanceOverride).where(AttendanceOverride.session_id == lecture.id)
    if student_ids is not None:
        query = query.where(AttendanceOverride.student_id.in_(list(student_ids)))
    latest: dict[tuple[int, int | None], AttendanceOverride] = {}
    for row in db.scalars(query.order_by(AttendanceOverride.at, AttendanceOverride.id)):
        if row.period_index is None:
            for key in [key for key in latest if key[0] == row.student_id]:
                del latest[key]
        latest[(row.student_id, row.period_index)] = row
    return latest


def compute_session(
    db: Session,
    lecture: LectureSession,
    config: Mapping[str, Any],
    student_ids: Iterable[int] | None = None,
    now: datetime | None = None,
) -> SessionReport:
    """The session's attendance: roster, sightings and overrides from the database through the engine.

    `student_ids` limits the work to those roster students (a student's own view): each
    student's result depends only on their own sightings, so the rows are the same as in the
    full computation. `now` (default: the server's clock) is the moment of the live state."""
    policy = policy_from_config(config)
    out_after = out_after_from_config(config)
    plan = plan_for(lecture, config)
    roster = roster_ids(db, lecture.course_id)
    wanted = None if student_ids is None else set(student_ids)
    if wanted is not None:
        roster = [sid for sid in roster if sid in wanted]

    lo, hi = lecture.starts_at - policy.window_margin, lecture.ends_at + policy.window_margin
    query = select(
        Sighting.id,
        Sighting.event_id,
        Sighting.student_id,
        Sighting.device_id,
        Sighting.track_id,
        Sighting.captured_at,
        Sighting.score,
        Sighting.quality,
        Sighting.thumbnail.is_not(None).label("has_thumbnail"),
    ).where(Sighting.session_id == lecture.id)
    if wanted is not None:
        query = query.where(Sighting.student_id.in_(roster))
    rows = db.execute(query).all()

    sightings = [
        engine.Sighting(
            event_id=row.event_id,
            student_id=row.student_id,
            captured_at=row.captured_at,
            score=row.score if row.score is not None else 0.0,
            track_id=row.track_id,
            device_id=str(row.device_id),
            quality=row.quality,
        )
        for row in rows
    ]
    computed = engine.compute_attendance(plan, policy, roster, sightings)
    overrides = overrides_in_force(db, lecture, roster)
    period_count = len(plan.periods)
    usable = [
        engine.Override(student_id=sid, status=row.status.value, period=period, note=row.reason)
        for (sid, period), row in overrides.items()
        if period is None or 0 <= period < period_count  # a period that no longer exists is history
    ]
    result = engine.apply_overrides(computed, usable)

    ids = {row.student_id for row in (*result.students, *result.not_on_roster)}
    students = {s.id: s for s in db.scalars(select(Student).where(Student.id.in_(ids)))} if ids else {}
    thumbnails, unknown_thumbnails = _thumbnails(rows, lo, hi, policy.min_confidence)
    live = presence.live_states(plan, policy, roster, sightings, now or utcnow(), out_after)
    return SessionReport(lecture, result, students, overrides, thumbnails, unknown_thumbnails, live)


def _thumbnails(
    rows: list[Any], lo: datetime, hi: datetime, min_confidence: float | None
) -> tuple[dict[int, int], dict[tuple[str, str], int]]:
    """Per student and per unknown track, the best-scoring counted sighting that carries a thumbnail."""
    best: dict[Any, tuple] = {}
    for row in rows:
        if not row.has_thumbnail or not lo <= row.captured_at <= hi:
            continue
        score = row.score if row.score is not None else 0.0
        if row.student_id is not None:
            if min_confidence is not None and score < min_confidence:
                continue
            key: Any = row.student_id
        else:
            key = (str(row.device_id), row.track_id)
        rank = (-score, row.captured_at, row.event_id, row.id)
        if key not in best or rank < best[key]:
            best[key] = rank
    students = {k: v[3] for k, v in best.items() if not isinstance(k, tuple)}
    unknown = {k: v[3] for k, v in best.items() if isinstance(k, tuple)}
    return students, unknown


# ----------------------------------------------------------------------------- lookups


def sessions_between(
    db: Session, start: datetime, end: datetime, instructor_id: int | None
) -> list[LectureSession]:
    """Sessions overlapping [start, end), of one instructor's courses (None: every course)."""
    query = (
        select(LectureSession)
        .join(Course, Course.id == LectureSession.course_id)
        .where(LectureSession.starts_at < end, LectureSession.ends_at > start)
        .order_by(LectureSession.starts_at, Course.code, LectureSession.id)
    )
    if instructor_id is not None:
        query = query.where(Course.instructor_id == instructor_id)
    return list(db.scalars(query))
