"""GET /api/v1/devices/{device_id}/live: what the device page shows, in one request, for its
live refresh (server.devices.live)."""

from __future__ import annotations

from flask import abort

from server.api.endpoints import api_route
from server.db import db_session
from server.db.enums import Role
from server.devices import service
from server.devices.live import device_live
from server.devices.schemas import DeviceLive


@api_route(
    "/devices/<device_id>/live", roles=[Role.ADMIN], response=DeviceLive, errors=[404], tags=["devices"]
)
def get_device_live(device_id: str) -> DeviceLive:
    """One device's status, newest telemetry, acknowledged crop mode and latest commands.

    What the device page polls to stay current without a reload."""
    device = service.find(db_session, device_id)
    if device is None:
        abort(404, f"no device '{device_id}'")
    return DeviceLive.model_validate(device_live(db_session, device))
