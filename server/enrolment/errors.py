"""What enrolment services raise: an HTTP status and one sentence telling the caller what to fix.

The API answers `{"error": message, **details}`, the web pages show the message; services never know
which. Raised before anything is written, or with the transaction rolled back: nothing half-done."""

from __future__ import annotations

from typing import Any


class EnrolmentError(Exception):
    status = 400

    def __init__(self, message: str, status: int | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.details = details


class NotFound(EnrolmentError):
    """No such course, student or photo, or none the caller may see (another instructor's ids)."""

    status = 404


class TooLarge(EnrolmentError):
    status = 413


class ModelsUnavailable(EnrolmentError):
    """The face models are not installed on this server (an operator's job, not the user's)."""

    status = 503
