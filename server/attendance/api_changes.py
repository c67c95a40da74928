"""One way for the attendance API to run a change: a ReviewError or EnrolmentError it raises becomes
the HTTP error (4xx with its message) after a rollback, so a refused change leaves nothing written.
Shared by `server.attendance.api` and `server.attendance.unknown_api`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort

from server.attendance import review
from server.db import db_session
from server.enrolment.errors import EnrolmentError

T = TypeVar("T")


def changing(action: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run `action(*args, **kwargs)`; its ReviewError or EnrolmentError aborts with its status and
    message, with the session rolled back."""
    try:
        return action(*args, **kwargs)
    except (review.ReviewError, EnrolmentError) as exc:
        db_session.rollback()
        abort(exc.status, exc.message)
