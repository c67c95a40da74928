"""The schedule: lecture sessions of a course in a classroom, one at a time or as a weekly series,
and the one rule for which session a sighting belongs to (`lecture_at`).

A classroom holds one session at a time: a new session that overlaps another in the same room
(any course) is refused with 409, and a weekly series is created whole or not at all. Sessions
are half-open intervals [starts_at, ends_at): one may start when the previous one ends.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from flask_babel import gettext, ngettext
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.audit import record
from server.db.enums import SessionStatus
from server.db.models import AttendanceOverride, Classroom, Course, Device, LectureSession, Sighting, User
from server.db.types import as_utc
from server.school.access import is_admin
from server.school.errors import Conflict, Invalid
from server.school.fields import integer
from server.school.rooms import classroom
from server.school.times import at_local, clock_time, instant, local_date, weekday, weekly_dates, zone

WEEKLY_FIELDS = ("weekday", "start_time", "duration_minutes", "first_date", "last_date", "timezone")
MAX_SESSION = timedelta(hours=24)
MAX_SERIES = 260  # five years of weekly lectures: more is a typo in a date
DEFAULT_PERIOD_MINUTES = 60


@dataclass(frozen=True)
class Slot:
    """A requested [starts_at, ends_at) in UTC."""

    starts_at: datetime
    ends_at: datetime

    def overlaps(self, starts_at: datetime, ends_at: datetime) -> bool:
        return self.starts_at < ends_at and starts_at < self.ends_at


def single_slot(body: Mapping[str, Any]) -> Slot:
    starts_at = instant(body.get("starts_at"), "starts_at")
    ends_at = instant(body.get("ends_at"), "ends_at")
    if ends_at <= starts_at:
        raise Invalid("'ends_at' must be after 'starts_at'")
    if ends_at - starts_at > MAX_SESSION:
        raise Invalid("a lecture session lasts at most 24 hours")
    return Slot(starts_at, ends_at)


def weekly_slots(spec: Any) -> list[Slot]:
    """`{"weekday": "tuesday", "start_time": "09:00", "duration_minutes": 180, "first_date":
    "2026-03-03", "last_date": "2026-06-16", "timezone": "Asia/Seoul"}` -> one slot per week."""
    if not isinstance(spec, dict):
        raise Invalid("'weekly' must be an object with " + ", ".join(WEEKLY_FIELDS))
    day = weekday(spec.get("weekday"), "weekly.weekday")
    start = clock_time(spec.get("start_time"), "weekly.start_time")
    minutes = integer(spec.get("duration_minutes"), "weekly.duration_minutes", 1, 24 * 60)
    first = local_date(spec.get("first_date"), "weekly.first_date")
    last = local_date(spec.get("last_date"), "weekly.last_date")
    tz = zone(spec.get("timezone"), "weekly.timezone")
    if last < first:
        raise Invalid("'weekly.last_date' must not be before 'weekly.first_date'")
    dates = weekly_dates(day, first, last)
    if not dates:
        raise Invalid(
            gettext(
                "there is no %(weekday)s from %(first)s to %(last)s",
                weekday=spec["weekday"],
                first=first.isoformat(),
                last=last.isoformat(),
            )
        )
    if len(dates) > MAX_SERIES:
        raise Invalid(
            gettext(
                "the series would have %(count)s sessions: at most %(max)s at once",
                count=len(dates),
                max=MAX_SERIES,
            )
        )
    slots = []
    for date in dates:
        starts_at = at_local(date, start, tz)
        slots.append(Slot(starts_at, starts_at + timedelta(minutes=minutes)))
    return slots


def _span(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


def check_room_free(db: Session, actor: User, room: Classroom, slots: Sequence[Slot]) -> None:
    """Refuse (409) when any slot overlaps a session already in `room`; lists every clash."""
    earliest = min(slot.starts_at for slot in slots)
    latest = max(slot.ends_at for slot in slots)
    booked = db.scalars(
        select(LectureSession).where(
            LectureSession.classroom_id == room.id,
            LectureSession.starts_at < latest,
            LectureSession.ends_at > earliest,
        )
    ).all()
    clashes = []
    for slot in slots:
        for other in booked:
            if slot.overlaps(other.starts_at, other.ends_at):
                clash = {"starts_at": other.starts_at, "ends_at": other.ends_at}
                # Name the other session only to someone who may see it.
                if is_admin(actor) or other.course.instructor_id == actor.id:
                    clash |= {"session_id": other.id, "course_code": other.course.code}
                clashes.append(clash)
    if clashes:
        first = clashes[0]
        more = gettext(" (and %(count)s more)", count=len(clashes) - 1) if len(clashes) > 1 else ""
        by = gettext(" by %(code)s", code=first["course_code"]) if "course_code" in first else ""
        raise Conflict(
            gettext(
                "classroom %(room)s is already booked%(by)s from %(start)s to %(end)s%(more)s; nothing was"
                " scheduled",
                room=room.name,
                by=by,
                start=_span(first["starts_at"]),
                end=_span(first["ends_at"]),
                more=more,
            ),
            conflicts=[
                {**clash, "starts_at": _iso(clash["starts_at"]), "ends_at": _iso(clash["ends_at"])}
                for clash in clashes
            ],
        )


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def create_sessions(
    db: Session, actor: User, course: Course, body: Mapping[str, Any]
) -> list[LectureSession]:
    """One session (`starts_at`, `ends_at`) or a weekly series (`weekly`), in `classroom_id`."""
    room = classroom(db, body.get("classroom_id"))
    assert room is not None
    period = integer(body.get("period_minutes", DEFAULT_PERIOD_MINUTES), "period_minutes", 1, 24 * 60)
    if "weekly" in body:
        if "starts_at" in body or "ends_at" in body:
            raise Invalid(
                "give either 'starts_at' and 'ends_at' (one session) or 'weekly' (a series), not both"
            )
        slots = weekly_slots(body["weekly"])
    else:
        slots = [single_slot(body)]
    # Lock the room's row (MariaDB) so that two requests cannot both find it free; SQLite
    # serialises writers by itself.
    db.execute(select(Classroom.id).where(Classroom.id == room.id).with_for_update())
    check_room_free(db, actor, room, slots)
    created = [
        LectureSession(
            course=course,
            classroom=room,
            starts_at=slot.starts_at,
            ends_at=slot.ends_at,
            period_minutes=period,
            status=SessionStatus.SCHEDULED,
        )
        for slot in slots
    ]
    db.add_all(created)
    db.flush()
    for lecture in created:
        record(db, actor, "session.create", "lecture_session", lecture.id, after=state(lecture))
    return created


def state(lecture: LectureSession) -> dict[str, Any]:
    return {
        "course_id": lecture.course_id,
        "classroom_id": lecture.classroom_id,
        "starts_at": _iso(lecture.starts_at),
        "ends_at": _iso(lecture.ends_at),
        "period_minutes": lecture.period_minutes,
    }


def period_count(lecture: LectureSession) -> int:
    minutes = (lecture.ends_at - lecture.starts_at).total_seconds() / 60
    return max(1, math.ceil(minutes / lecture.period_minutes))


def sighting_count(db: Session, lecture: LectureSession) -> int:
    return int(db.scalar(select(func.count()).where(Sighting.session_id == lecture.id)) or 0)


def delete_session(db: Session, actor: User, lecture: LectureSession) -> None:
    """Delete a session that holds no attendance yet (no sightings, corrections or confirmation)."""
    sightings = sighting_count(db, lecture)
    if sightings:
        raise Conflict(
            ngettext(
                "this session has %(num)d recorded sighting: its attendance is kept, not deleted",
                "this session has %(num)d recorded sightings: its attendance is kept, not deleted",
                sightings,
            )
        )
    if db.scalar(select(func.count()).where(AttendanceOverride.session_id == lecture.id)):
        raise Conflict("this session has attendance corrections: its attendance is kept, not deleted")
    if lecture.status == SessionStatus.CONFIRMED:
        raise Conflict("this session's attendance was confirmed: it is kept, not deleted")
    record(db, actor, "session.delete", "lecture_session", lecture.id, before=state(lecture))
    db.delete(lecture)


def sessions_between(
    db: Session, course: Course, start: datetime | None = None, end: datetime | None = None
) -> list[LectureSession]:
    """A course's sessions that overlap [start, end) (either bound open), by start time."""
    query = select(LectureSession).where(LectureSession.course_id == course.id)
    if start is not None:
        query = query.where(LectureSession.ends_at > start)
    if end is not None:
        query = query.where(LectureSession.starts_at < end)
    return list(db.scalars(query.order_by(LectureSession.starts_at, LectureSession.id)))


# ----------------------------------------------------------------------------- the one lecture rule


class Lecture(Protocol):
    """What the rule reads of a session (a `LectureSession` or a row with these columns)."""

    id: int
    starts_at: datetime
    ends_at: datetime


L = TypeVar("L", bound=Lecture)


def distance(lecture: Lecture, at: datetime) -> timedelta:
    """How far `at` lies outside the session: 0 from its start to its end, else the time to the
    nearer one."""
    if at < lecture.starts_at:
        return lecture.starts_at - at
    if at > lecture.ends_at:
        return at - lecture.ends_at
    return timedelta(0)


def in_window(lecture: Lecture, at: datetime, margin: timedelta = timedelta(0)) -> bool:
    """Whether a sighting at `at` may belong to the session: without a margin, while it runs
    (sessions are half-open, so the instant one ends belongs to the next); with one, from
    `margin` before its start to `margin` after its end, both included (the engine's window)."""
    if margin <= timedelta(0):
        return lecture.starts_at <= at < lecture.ends_at
    return lecture.starts_at - margin <= at <= lecture.ends_at + margin


def lecture_at(lectures: Iterable[L], at: datetime, margin: timedelta = timedelta(0)) -> L | None:
    """THE rule for which lecture session a sighting at `at` belongs to, given the sessions of the
    room its device is in: among those whose window holds `at` (`in_window`), the nearest
    (`distance`), then the one that started first, then the lowest id. None when there is none.

    Ingest places each sighting with it when it stores it, a new or edited session takes the
    room's sightings of its window with it (`server.attendance.service.attach_sightings`), and
    `current_session_for_device` answers with it: one decision, made in one place."""
    windows = [lecture for lecture in lectures if in_window(lecture, at, margin)]
    return min(
        windows, key=lambda lecture: (distance(lecture, at), lecture.starts_at, lecture.id), default=None
    )


def room_lectures(
    db: Session, classroom_id: int, start: datetime, end: datetime, margin: timedelta = timedelta(0)
) -> list[LectureSession]:
    """The room's sessions whose window (with `margin`) may hold a time from `start` to `end`:
    what `lecture_at` must see for sightings of that room in that span (one query for many)."""
    return list(
        db.scalars(
            select(LectureSession).where(
                LectureSession.classroom_id == classroom_id,
                LectureSession.starts_at <= end + margin,
                LectureSession.ends_at >= start - margin,
            )
        )
    )


def _device_room(db: Session, device_id: str) -> int | None:
    return db.scalar(select(Device.classroom_id).where(Device.device_id == device_id))


def current_session_for_device(
    db: Session, device_id: str, at: datetime, *, margin: timedelta = timedelta(0)
) -> LectureSession | None:
    """The lecture a sighting at `at` by the device published as `device_id` belongs to
    (`lecture_at`; `margin` widens each session on both sides, see the engine's `window_margin`).

    None when the device is unknown, not installed in a classroom, or the room is free then.
    `at` must be timezone-aware.
    """
    at = as_utc(at)
    room_id = _device_room(db, device_id)
    if room_id is None:
        return None
    return lecture_at(room_lectures(db, room_id, at, at, margin), at, margin)


def next_session_for_device(db: Session, device_id: str, at: datetime) -> LectureSession | None:
    """The session running at `at` in the device's classroom or, if none, the next one to start
    there (what a device should hold the gallery for). None when there is none or no room."""
    at = as_utc(at)
    room_id = _device_room(db, device_id)
    if room_id is None:
        return None
    return db.scalars(
        select(LectureSession)
        .where(LectureSession.classroom_id == room_id, LectureSession.ends_at > at)
        .order_by(LectureSession.starts_at, LectureSession.id)
        .limit(1)
    ).first()
