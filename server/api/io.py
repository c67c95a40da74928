"""Small helpers for API views: reading a JSON body, writing datetimes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import abort, request


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 400 saying what is wrong with it."""
    if not request.is_json:
        abort(415, "send the body as JSON with 'Content-Type: application/json'")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, "the request body must be a JSON object")
    return body


def iso(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a Z (`2026-01-31T09:00:00.123456Z`); None stays None."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


DATETIME: dict[str, Any] = {"type": "string", "format": "date-time"}
NULLABLE_DATETIME: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}
