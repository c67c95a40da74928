"""Time for the schedule: instants are ISO 8601 with a UTC offset (stored in UTC), and weekly
series are laid out in a named zone (IANA, through `zoneinfo`) so that 09:00 stays 09:00 on the
wall clock across daylight-saving changes.

Decisions (also in docs/school.md):
* A naive datetime (no offset) is refused: whose clock it is cannot be guessed.
* A local start time that does not exist (skipped by a DST change, e.g. 02:30 on the night
  clocks go forward) is refused with the date; an ambiguous one (repeated when clocks go back)
  takes its first occurrence (`fold=0`).
* A session's length is elapsed time: 180 minutes are 180 minutes even across a DST change.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flask_babel import gettext

from server.school.errors import Invalid

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def instant(value: Any, name: str) -> datetime:
    """An ISO 8601 date-time with a UTC offset ('2026-03-02T09:00:00+09:00', '...Z'), as UTC."""
    if not isinstance(value, str) or not value.strip():
        raise Invalid(
            gettext(
                "'%(name)s' is required: an ISO 8601 date-time with offset, e.g. 2026-03-02T09:00:00+09:00",
                name=name,
            )
        )
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise Invalid(
            gettext(
                "'%(name)s' %(repr)s is not an ISO 8601 date-time; write e.g. 2026-03-02T09:00:00+09:00",
                name=name,
                repr=repr(value),
            )
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise Invalid(
            gettext(
                "'%(name)s' %(repr)s has no UTC offset, so its clock is unknown: add one, e.g. 'Z' for UTC"
                " or '+09:00'",
                name=name,
                repr=repr(value),
            )
        )
    return parsed.astimezone(timezone.utc)


def local_date(value: Any, name: str) -> date:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise Invalid(gettext("'%(name)s' must be a date written YYYY-MM-DD", name=name))


def clock_time(value: Any, name: str) -> time:
    """A wall-clock time 'HH:MM' (or 'HH:MM:SS')."""
    if isinstance(value, str):
        try:
            parsed = time.fromisoformat(value.strip())
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is None:
            return parsed
    raise Invalid(gettext("'%(name)s' must be a local time written HH:MM, e.g. 09:00", name=name))


def zone(value: Any, name: str = "timezone") -> ZoneInfo:
    """An IANA time zone such as 'Asia/Seoul' or 'Europe/Berlin'."""
    if isinstance(value, str) and 0 < len(value.strip()) <= 64:
        try:
            return ZoneInfo(value.strip())
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    raise Invalid(
        gettext(
            "'%(name)s' %(repr)s is not a known IANA time zone; write e.g. Asia/Seoul or Europe/Berlin",
            name=name,
            repr=repr(value),
        )
    )


@cache
def zone_names() -> tuple[str, ...]:
    """The IANA zones this machine knows, sorted (for the pages' zone pickers)."""
    return tuple(sorted(available_timezones()))


def weekday(value: Any, name: str = "weekday") -> int:
    """A day name ('monday' or 'mon', any case) -> 0 (Monday) .. 6 (Sunday).

    Names only: numbers are ambiguous (Python counts Monday as 0, ISO 8601 as 1)."""
    if isinstance(value, str):
        key = value.strip().lower()
        for index, day in enumerate(WEEKDAYS):
            if key in (day, day[:3]):
                return index
    raise Invalid(
        gettext("'%(name)s' must be a day name such as 'monday' or 'mon' (numbers are ambiguous)", name=name)
    )


def at_local(day: date, start: time, tz: ZoneInfo) -> datetime:
    """`day` at wall-clock `start` in `tz`, as UTC; refuses a time the DST change skips that day."""
    local = datetime.combine(day, start, tzinfo=tz)  # fold=0: the first of two repeated times
    utc = local.astimezone(timezone.utc)
    if utc.astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise Invalid(
            gettext(
                "%(time)s does not exist on %(day)s in %(zone)s (the clocks skip it for daylight saving):"
                " choose another start time",
                time=start.strftime("%H:%M"),
                day=day.isoformat(),
                zone=tz.key,
            )
        )
    return utc


def weekly_dates(day_of_week: int, first: date, last: date) -> list[date]:
    """Every date from `first` to `last` (inclusive) that falls on `day_of_week` (0 = Monday)."""
    start = first + timedelta(days=(day_of_week - first.weekday()) % 7)
    count = 0 if start > last else (last - start).days // 7 + 1
    return [start + timedelta(weeks=week) for week in range(count)]
