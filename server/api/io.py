"""Small helpers for API views: reading a JSON body, writing datetimes, turning service errors
into JSON answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from functools import wraps
from typing import Any

from flask import Response, abort, request
from sqlalchemy.exc import IntegrityError

from server.db import db_session
from server.errors import json_error


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
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


DATETIME: dict[str, Any] = {"type": "string", "format": "date-time"}
NULLABLE_DATETIME: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}


def error_response(status: int, message: str, **details: Any) -> Response:
    """`{"error": message, **details}` with `status`."""
    response = json_error(status, message)
    if details:
        response.set_data(json.dumps({"error": message, **details}))
    return response


def service_errors(
    errors: tuple[type[Exception], ...], conflict: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A view decorator: a service error (with `status`, `message`, `details`) becomes its JSON
    answer and a unique-constraint race a 409 saying `conflict`; either way the request's
    database changes are rolled back, so nothing is half-written."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            try:
                return view(*args, **kwargs)
            except errors as exc:
                db_session.rollback()
                return error_response(exc.status, exc.message, **exc.details)  # type: ignore[attr-defined]
            except IntegrityError:
                db_session.rollback()
                return error_response(409, conflict)

        return wrapped

    return decorate
