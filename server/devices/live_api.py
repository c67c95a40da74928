"""GET /api/v1/devices/{device_id}/live: what the device page shows, in one request, for its
live refresh (server.devices.live)."""

from __future__ import annotations

from server.api.endpoints import api_route
from server.db import db_session
from server.db.enums import Role
from server.devices.api import device_or_404
from server.devices.live import device_live
from server.devices.schemas import DeviceLive


@api_route(
    "/devices/<device_id>/live", roles=[Role.ADMIN], response=DeviceLive, errors=[404], tags=["devices"]
)
def get_device_live(device_id: str) -> DeviceLive:
    """One device's status, newest telemetry, acknowledged crop mode and latest commands.

    What the device page polls to stay current without a reload."""
    device = device_or_404(device_id)
    return DeviceLive.model_validate(device_live(db_session, device))
