"""What album services raise: an HTTP status and one sentence telling the caller what to fix.

The same shape as enrolment's errors (and the API and pages treat both alike), so the album reuses
enrolment's zip reader and upload helpers, whose errors are `EnrolmentError`s."""

from __future__ import annotations

from server.enrolment.errors import EnrolmentError


class AlbumError(EnrolmentError):
    """A refused album request (bad input, a limit, a conflict); nothing was written."""


class NotFound(AlbumError):
    """No such album, photo, face, person or search among the caller's own (others' ids look unknown)."""

    status = 404


class TooLarge(AlbumError):
    status = 413
