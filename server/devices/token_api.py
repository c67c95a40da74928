"""Device tokens in /api/v1 (administrators): issue or rotate a device's token, or revoke it.

The token is shown once, in the answer to the POST; the server keeps only its SHA-256. Rotating
replaces the previous token at once (server.devices.tokens). Both are audited.
"""

from __future__ import annotations

from flask_login import current_user

from server.api.endpoints import api_route
from server.audit import record
from server.db import db_session
from server.db.enums import Role
from server.devices.api import device_or_404
from server.devices.schemas import DeviceToken
from server.devices.tokens import issue_device_token, revoke_device_token

ADMIN = [Role.ADMIN]
TAGS = ["devices"]


@api_route(
    "/devices/<device_id>/token",
    "POST",
    roles=ADMIN,
    response=DeviceToken,
    status=201,
    errors=[404],
    tags=TAGS,
)
def issue_device_token_api(device_id: str) -> tuple[DeviceToken, int]:
    """Issue (or rotate) the device's token for model downloads.

    The token is in this answer only; any earlier token of the device stops working at once."""
    device = device_or_404(device_id)
    token = issue_device_token(db_session, device)
    record(
        db_session, current_user, "device.token", "device", device.id, after={"prefix": device.token_prefix}
    )
    db_session.commit()
    issued = {"prefix": device.token_prefix, "issued_at": device.token_issued_at}
    return DeviceToken.model_validate({"device_id": device.device_id, "token": token, **issued}), 201


@api_route("/devices/<device_id>/token", "DELETE", roles=ADMIN, status=204, errors=[404], tags=TAGS)
def revoke_device_token_api(device_id: str) -> tuple[str, int]:
    """Revoke the device's token: it can no longer download models until a new one is issued."""
    device = device_or_404(device_id)
    before = {"prefix": device.token_prefix}
    revoke_device_token(device)
    record(db_session, current_user, "device.token_revoked", "device", device.id, before=before)
    db_session.commit()
    return "", 204
