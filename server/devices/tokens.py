"""Device tokens: `Authorization: Bearer vsd_...`, a device's own HTTP credential (model downloads).

Like users' API tokens (server.auth.tokens): 32 random bytes behind a marker that secret scanners can
match (`vsd_`, distinct from users' `vsg_`, so neither kind is ever mistaken for the other), and only
the SHA-256 is stored. A device holds at most one: issuing a new one (rotation) replaces the old, which
stops working at once. `device_required` guards the device endpoints: no token or an unknown one is a
401, a user's token a 403 (it is not a device's credential).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Response, g, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.auth.tokens import bearer_token
from server.db import db_session
from server.db.models import Device
from server.db.types import utcnow
from server.errors import json_error

DEVICE_TOKEN_MARKER = "vsd_"
PREFIX_LENGTH = 12

View = TypeVar("View", bound=Callable[..., Any])


def is_device_token(token: str | None) -> bool:
    return token is not None and token.startswith(DEVICE_TOKEN_MARKER)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_device_token(session: Session, device: Device) -> str:
    """A new token for `device`, replacing any previous one (the caller commits and shows it once)."""
    token = DEVICE_TOKEN_MARKER + secrets.token_urlsafe(32)
    device.token_sha256 = _digest(token)
    device.token_prefix = token[:PREFIX_LENGTH]
    device.token_issued_at = utcnow()
    session.flush()
    return token


def revoke_device_token(device: Device) -> None:
    device.token_sha256 = device.token_prefix = device.token_issued_at = None


def find_device(session: Session, token: str) -> Device | None:
    """The device `token` belongs to, or None."""
    if not is_device_token(token) or len(token) > 200:
        return None
    return session.scalars(select(Device).where(Device.token_sha256 == _digest(token))).one_or_none()


def _refuse(status: int, message: str) -> Response:
    response = json_error(status, message)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="visage-device", error="invalid_token"'
    return response


def device_required(view: View) -> View:
    """Let only a known device's token through; the device is `g.device` in the view."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        token = bearer_token(request)
        if not token:
            return _refuse(401, "device authentication required: send 'Authorization: Bearer vsd_...'")
        if not is_device_token(token):
            return _refuse(403, "this endpoint takes a device token (vsd_...), not a user's API token")
        device = find_device(db_session, token)
        if device is None:
            return _refuse(401, "unknown or replaced device token (`visage server device-token` issues one)")
        g.device = device
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]
