"""Small helpers for API views: reading a JSON body and integer query parameters, writing
datetimes, writing an error with extra fields. (Service errors need nothing here: the app's handler
in `server.errors` answers them.)

Integers from a request are bounded here before they reach SQL (issue 14): beyond 2^63-1 SQLite's
driver raises OverflowError and MariaDB refuses the statement, which answered 500. A JSON body is
parsed with the same bounded parser as MQTT payloads (`shared.messages.load_json`: nesting, size)
and refused when any integer in it is beyond 64 bits; `query_int` reads a query parameter within
the range its column allows; `int_text` reads a form field."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, overload

from flask import Response, abort, request
from flask_babel import gettext

from server.db.types import BIGINT_MAX
from server.errors import json_error, translated
from shared.messages import MessageError, load_json

MAX_JSON_BODY_BYTES = 4 * 1024 * 1024  # API bodies are ids, names and lists of them: kilobytes
MAX_INT_DIGITS = 20  # the longest an integer within 64 bits can be written ("-" and 19 digits)


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 4xx saying what is wrong with it: not JSON, nested deeper
    than 16 levels, larger than 4 MiB, or holding an integer beyond 64 bits."""
    if not request.is_json:
        abort(415, "send the body as JSON with 'Content-Type: application/json'")
    try:
        body = load_json(request.get_data(cache=True), limit=MAX_JSON_BODY_BYTES)
    except MessageError as exc:
        abort(
            413 if exc.reason == "oversized" else 400,
            gettext("the request body is not usable JSON: %(exc)s", exc=exc),
        )
    if not isinstance(body, dict):
        abort(400, "the request body must be a JSON object")
    where = _beyond_64_bits(body)
    if where is not None:
        abort(
            400,
            gettext(
                "'%(where)s' is out of range: integers in a request are at most %(max)s in size",
                where=where,
                max=BIGINT_MAX,
            ),
        )
    return body


def _beyond_64_bits(body: dict[str, Any]) -> str | None:
    """The path of the first integer beyond signed 64 bits in `body`, or None (iterative: the
    nesting is bounded anyway)."""
    stack: list[tuple[str, Any]] = [("", body)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            stack.extend((f"{path}.{key}" if path else str(key), item) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((f"{path}[{index}]", item) for index, item in enumerate(value))
        elif isinstance(value, int) and not -BIGINT_MAX - 1 <= value <= BIGINT_MAX:
            return path[:80]
    return None


def int_text(raw: str | None) -> int | None:
    """The integer a form or query string spells in ASCII digits (an optional '-'), or None.

    `str.isdigit()` is true for '²', which `int()` refuses, and `int()` refuses more than 4,300
    digits: both raised ValueError in views that checked `isdigit()` first (500)."""
    text = (raw or "").strip()
    digits = text[1:] if text.startswith("-") else text
    if not digits or len(digits) > MAX_INT_DIGITS or not (digits.isascii() and digits.isdigit()):
        return None
    return int(text)


@overload
def query_int(name: str, default: int, low: int, high: int) -> int: ...
@overload
def query_int(name: str, default: None, low: int, high: int) -> int | None: ...
def query_int(name: str, default: int | None, low: int, high: int) -> int | None:
    """Query parameter `name` as an integer from `low` to `high` (`default` when absent or empty),
    or a 400 naming the range."""
    raw = request.args.get(name)
    if raw is None or not raw.strip():
        return default
    value = int_text(raw)
    if value is None or not low <= value <= high:
        abort(
            400,
            gettext(
                "'%(name)s' must be a whole number from %(low)s to %(high)s", name=name, low=low, high=high
            ),
        )
    return value


def iso(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a Z (`2026-01-31T09:00:00.123456Z`); None stays None."""
    if value is None:
        return None
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def error_response(status: int, message: str, **details: Any) -> Response:
    """`{"error": message, **details}` with `status`, the message in the request's language."""
    response = json_error(status, message)
    if details:
        response.set_data(json.dumps({"error": translated(message), **details}))
    return response
