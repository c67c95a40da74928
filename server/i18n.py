"""Language, time zone and formatting of what people read (Flask-Babel).

One place decides, per request:

* the language: the signed-in user's setting (`users.language`), else the best `Accept-Language`
  match among `LANGUAGES`, else the `DEFAULT_LOCALE` setting ("en": a client that names no language,
  such as a script or the test client, keeps English);
* the time zone: the deployment's `DISPLAY_TIMEZONE` (default "Asia/Seoul"). Every page shows
  times in it, and the attendance pages take "today" from it (server/attendance/clock.py);
* one format for dates and times, by Babel in that language: the Jinja filters `datetime`, `date`,
  `time` and `iso` below, which every template uses instead of `strftime`.

Catalogues live in `server/translations/` (workflow: docs/i18n.md, `scripts/i18n.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import flask_babel
from babel import Locale
from flask import Flask, current_app, has_request_context, request
from flask_babel import Babel, get_locale, gettext, ngettext
from flask_login import current_user

# The languages with a catalogue, and how each names itself in the language switch.
LANGUAGES: dict[str, str] = {"en": "English", "ko": "한국어"}
DEFAULT_TIMEZONE = "Asia/Seoul"

# The one date and time format, as CLDR skeletons: Babel turns each into the language's own pattern
# ("Mon, Mar 2, 2026" / "2026년 3월 2일 (월)"); times use a 24-hour clock in both languages.
DATE_SKELETONS = {"long": "yMMMEd", "short": "MMMEd"}
TIME_SKELETONS = {"minutes": "Hm", "seconds": "Hms"}


class I18nConfigError(ValueError):
    """A language or time zone setting the operator must fix."""


def zone_name(config: Mapping[str, Any]) -> str:
    """The deployment's time zone. `ATTENDANCE_TIMEZONE` is the older name of the same setting and
    still wins when a deployment sets it, so that nothing configured before changes."""
    return str(config.get("ATTENDANCE_TIMEZONE") or config.get("DISPLAY_TIMEZONE") or DEFAULT_TIMEZONE)


def display_zone(config: Mapping[str, Any]) -> ZoneInfo:
    """The deployment's time zone as a `ZoneInfo`; I18nConfigError names the setting when unknown."""
    name = zone_name(config)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise I18nConfigError(f"DISPLAY_TIMEZONE {name!r} is not a known IANA time zone") from exc


def default_locale(config: Mapping[str, Any]) -> str:
    """`DEFAULT_LOCALE`, checked against the catalogues."""
    name = str(config.get("DEFAULT_LOCALE") or "en")
    if name not in LANGUAGES:
        raise I18nConfigError(f"DEFAULT_LOCALE {name!r} must be one of: {', '.join(LANGUAGES)}")
    return name


def user_language() -> str | None:
    """The signed-in user's chosen language, None when they follow the browser (or nobody is in)."""
    if not has_request_context():
        return None
    user = current_user
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    chosen = getattr(user, "language", None)
    return chosen if chosen in LANGUAGES else None


def select_locale() -> str:
    """User setting, else Accept-Language ("ko-KR" matches "ko"), else DEFAULT_LOCALE."""
    chosen = user_language()
    if chosen:
        return chosen
    if has_request_context():
        best = request.accept_languages.best_match(tuple(LANGUAGES))
        if best:
            return best
    return default_locale(current_app.config)


def select_timezone() -> str:
    return zone_name(current_app.config)


# ----------------------------------------------------------------------------- formatting


def _as_utc(value: datetime | str) -> datetime:
    """A datetime (or the API's ISO 8601 text of one); naive values are the database's UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _pattern(kind: str, skeletons: Mapping[str, str], form: str) -> str:
    if form not in skeletons:
        raise ValueError(f"the {kind} filter takes one of {sorted(skeletons)}, not {form!r}")
    return Locale.parse(str(get_locale())).datetime_skeletons[skeletons[form]].pattern


def format_date(value: date | datetime | str | None, form: str = "long") -> str:
    """A day in the user's language: 'long' with the year and weekday, 'short' without the year.
    A datetime is first moved into the deployment's zone; '' for None."""
    if value is None or value == "":
        return ""
    if isinstance(value, str) and "T" not in value:
        value = date.fromisoformat(value)
    if isinstance(value, str | datetime):
        value = _as_utc(value)
    return flask_babel.format_date(value, _pattern("date", DATE_SKELETONS, form))


def format_time(value: datetime | str | None, form: str = "minutes") -> str:
    """A wall-clock time in the deployment's zone, 24-hour ('minutes' or 'seconds'); '' for None."""
    if value is None or value == "":
        return ""
    return flask_babel.format_time(_as_utc(value), _pattern("time", TIME_SKELETONS, form))


def format_datetime(value: datetime | str | None, form: str = "long") -> str:
    """Date and time: `format_date(value, form)` then `format_time(value)`; '' for None."""
    if value is None or value == "":
        return ""
    moment = _as_utc(value)
    return f"{format_date(moment, form)} {format_time(moment)}"


def iso(value: datetime | str | None) -> str:
    """The instant for a `<time datetime="...">` attribute: RFC 3339 in UTC with a Z."""
    if value is None or value == "":
        return ""
    return _as_utc(value).astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _minutes(period: Any) -> int:
    """A period's real length in whole minutes: an object with `start`/`end`, a timedelta, or minutes."""
    if hasattr(period, "start") and hasattr(period, "end"):
        period = period.end - period.start
    if isinstance(period, timedelta):
        return round(period.total_seconds() / 60)
    return int(period)


def period_summary(periods: Sequence[Any]) -> str:
    """How a session is split, from its periods' real lengths: "1 period of 50 min", "3 periods of
    60 min", "3 periods of 60 min, the last 30 min" (a session of 2:30 cut into hours)."""
    lengths = [_minutes(period) for period in periods]
    if not lengths:
        return ""
    count, first, last = len(lengths), lengths[0], lengths[-1]
    if all(length == first for length in lengths):
        return ngettext(
            "%(num)d period of %(minutes)d min", "%(num)d periods of %(minutes)d min", count, minutes=first
        )
    return ngettext(
        "%(num)d period of %(minutes)d min, the last %(last)d min",
        "%(num)d periods of %(minutes)d min, the last %(last)d min",
        count,
        minutes=first,
        last=last,
    )


def role_name(role: str) -> str:
    """An account role as people read it ("album_user" -> "album user"), in the user's language."""
    return gettext(ROLE_NAMES.get(role, role.replace("_", " ")))


def current_language() -> str:
    """The language of this request ("ko", "en"), e.g. for `<html lang>`."""
    return str(get_locale() or "en")


def display_timezone() -> str:
    """The deployment's time zone name, for pages that say which zone their times are in."""
    return zone_name(current_app.config)


def init_app(app: Flask) -> None:
    """Flask-Babel with this module's selectors, the date filters and `current_language` in Jinja.
    A wrong DEFAULT_LOCALE or DISPLAY_TIMEZONE stops the app at start, naming the setting."""
    default_locale(app.config)
    display_zone(app.config)
    Babel(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.filters.update(
        datetime=format_datetime,
        date=format_date,
        time=format_time,
        iso=iso,
        period_summary=period_summary,
        role_name=role_name,
    )
    app.jinja_env.globals.update(
        current_language=current_language, display_timezone=display_timezone, languages=LANGUAGES
    )


def N_(message: str) -> str:
    """Marks a constant for the catalogue (`scripts/i18n.py extract`) without translating it here:
    it is translated where it is shown (e.g. by the error handler, server/errors.py)."""
    return message


# The texts Werkzeug gives an HTTP error that a view raised without its own message, so that the
# error handler finds them in the catalogue (tests/server/test_server_i18n.py checks they match).
HTTP_TEXTS = (
    N_("Bad Request"),
    N_("Unauthorized"),
    N_("Forbidden"),
    N_("Not Found"),
    N_("Method Not Allowed"),
    N_("Request Timeout"),
    N_("Conflict"),
    N_("Request Entity Too Large"),
    N_("Unsupported Media Type"),
    N_("Unprocessable Entity"),
    N_("Too Many Requests"),
    N_("Internal Server Error"),
    N_("Service Unavailable"),
    N_(
        "The requested URL was not found on the server. If you entered the URL manually please check"
        " your spelling and try again."
    ),
    N_("The method is not allowed for the requested URL."),
    N_(
        "The server encountered an internal error and was unable to complete your request. Either the"
        " server is overloaded or there is an error in the application."
    ),
)


# Account roles as pages name them (server/db/enums.py Role values).
ROLE_NAMES = {
    "admin": N_("admin"),
    "instructor": N_("instructor"),
    "album_user": N_("album user"),
    "student": N_("student"),
}
