"""What enrolment services raise: the server's one error family (`server.errors`).

`EnrolmentError` is `ServiceError` under the name the enrolment modules know; the app's error
handler answers every one of them. Raised before anything is written, or with the transaction
rolled back: nothing half-done."""

from __future__ import annotations

from server.errors import NotFound, TooLarge
from server.errors import ServiceError as EnrolmentError
from server.errors import Unavailable as ModelsUnavailable

__all__ = ["EnrolmentError", "ModelsUnavailable", "NotFound", "TooLarge"]
