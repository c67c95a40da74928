"""Reading request values: one place that says what a valid code, name or id is, so that the API
and the web forms accept and refuse the same things with the same sentences.

Values arrive as JSON (already typed) or as form strings; the web layer converts form strings
(an empty field is None) before calling these.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from server.db.types import INT_MAX
from server.school.errors import Invalid

STUDENT_NUMBER = re.compile(r"[A-Za-z0-9._-]{1,32}")
"""Student numbers also name photo files in bulk enrolment: letters, digits, dot, dash, underscore."""
DEVICE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""The id a device publishes under on MQTT: it is a topic level, so no '/', '+', '#' or spaces."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def reject_unknown(body: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Refuse fields this request does not take (a misspelt field would otherwise be silently ignored)."""
    allowed = set(allowed)
    unknown = sorted(key for key in body if key not in allowed)
    if unknown:
        names = ", ".join(repr(key) for key in unknown)
        raise Invalid(f"unknown field(s) {names}: this request takes {', '.join(sorted(allowed))}")


def text(
    value: Any, name: str, max_length: int, pattern: re.Pattern[str] | None = None, hint: str = ""
) -> str:
    """A required one-line string, stripped, 1 to `max_length` characters (and matching `pattern`)."""
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"'{name}' is required: give a non-empty text")
    value = value.strip()
    if len(value) > max_length:
        raise Invalid(f"'{name}' is too long: at most {max_length} characters")
    if _CONTROL.search(value):
        raise Invalid(f"'{name}' must not contain control characters (tabs, line breaks)")
    if pattern is not None and not pattern.fullmatch(value):
        raise Invalid(f"'{name}' {value!r} is not valid: {hint}")
    return value


def student_number(value: Any, name: str = "student_number") -> str:
    return text(value, name, 32, STUDENT_NUMBER, "use 1 to 32 letters, digits, '.', '-' or '_'")


def device_id(value: Any, name: str = "device_id") -> str:
    return text(value, name, 64, DEVICE_ID, "use 1 to 64 letters, digits, '-' or '_'")


def integer(value: Any, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer (JSON number without fraction; booleans are not integers here)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"'{name}' must be an integer")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        low = "" if minimum is None else f" from {minimum}"
        high = "" if maximum is None else f" to {maximum}"
        raise Invalid(f"'{name}' must be an integer{low}{high}")
    return value


def optional_id(value: Any, name: str) -> int | None:
    """A row id or None (JSON null clears a link); ids are INT keys, 1 to 2^31-1."""
    return None if value is None else integer(value, name, minimum=1, maximum=INT_MAX)


def string_list(value: Any, name: str, max_items: int) -> list[str]:
    """A JSON list of strings (1 to `max_items`), duplicates dropped, order kept."""
    if not isinstance(value, list) or not value:
        raise Invalid(f"'{name}' must be a non-empty list of strings")
    if len(value) > max_items:
        raise Invalid(f"'{name}' has {len(value)} items: send at most {max_items} per request")
    if not all(isinstance(item, str) for item in value):
        raise Invalid(f"'{name}' must contain strings only")
    return list(dict.fromkeys(item.strip() for item in value if item.strip()))


def split_numbers(raw: str) -> list[str]:
    """Student numbers typed or pasted into a form: separated by commas, semicolons or whitespace."""
    return [part for part in re.split(r"[\s,;]+", raw) if part]
