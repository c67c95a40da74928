"""What the school services raise: each error carries the HTTP status it maps to and one sentence
that tells the caller what to fix. The API turns them into `{"error": ...}`, the pages into a
flash message; the services never know which."""

from __future__ import annotations

from typing import Any


class SchoolError(Exception):
    status = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        # Extra JSON fields for the API answer, e.g. the unknown student numbers of a roster change.
        self.details = details


class Invalid(SchoolError):
    """The input fails validation (400); nothing was written."""

    status = 400


class Forbidden(SchoolError):
    """The caller may see the thing but not make this change (403)."""

    status = 403


class NotFound(SchoolError):
    """No such thing, or none the caller may see (404: another instructor's ids look unknown)."""

    status = 404


class Conflict(SchoolError):
    """The change clashes with the current state: a duplicate, an overlap, recorded evidence (409)."""

    status = 409
