"""What the school services raise: the server's one error family (`server.errors`).

`SchoolError` is `ServiceError` under the name the school modules know; the app's error handler
answers every one of them (`{"error": ...}` for the API, the error page or a flash for the web)."""

from __future__ import annotations

from server.errors import Conflict, Forbidden, Invalid, NotFound
from server.errors import ServiceError as SchoolError

__all__ = ["Conflict", "Forbidden", "Invalid", "NotFound", "SchoolError"]
