"""The institution's local day: which sessions are "today", and how times are shown.

The database and the API speak UTC only. Pages show times in the deployment's zone
(`DISPLAY_TIMEZONE`, default "Asia/Seoul"; `ATTENDANCE_TIMEZONE` is its older name, see
server/i18n.py), and "today" is that zone's calendar day.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext

from server.attendance.service import AttendanceConfigError
from server.i18n import I18nConfigError, display_zone


def zone(config: Mapping[str, Any]) -> ZoneInfo:
    """The deployment's zone (the one every page shows times in)."""
    try:
        return display_zone(config)
    except I18nConfigError as exc:
        raise AttendanceConfigError(str(exc)) from exc


def today(config: Mapping[str, Any]) -> date:
    return datetime.now(zone(config)).date()


def parse_day(value: str | None, config: Mapping[str, Any]) -> date:
    """A YYYY-MM-DD query value (today when absent; ValueError with a sentence when malformed)."""
    if value is None or value == "":
        return today(config)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(
            gettext("'date' must be a day as YYYY-MM-DD (got %(value)s)", value=repr(value))
        ) from None


def day_bounds(day: date, config: Mapping[str, Any]) -> tuple[datetime, datetime]:
    """The local day [start, end) in UTC."""
    tz = zone(config)
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


def local(value: datetime | None, config: Mapping[str, Any], fmt: str = "%H:%M") -> str:
    """A UTC datetime as local text for pages ('' for None)."""
    if value is None:
        return ""
    return value.astimezone(zone(config)).strftime(fmt)
