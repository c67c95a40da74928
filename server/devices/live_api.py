"""GET /api/v1/devices/{device_id}/live: what the device page shows, in one request, for its
live refresh (server.devices.live)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import abort

from server.api.endpoints import api_route, registry
from server.api.io import iso
from server.db import db_session
from server.db.enums import Role
from server.devices import service
from server.devices.live import device_live

DEVICE_LIVE = registry.schema(
    "DeviceLive",
    {
        "type": "object",
        "properties": {
            "device": {
                "type": "object",
                "additionalProperties": True,
                "description": "As in GET /devices/status; `crops` is the acknowledged crop mode.",
            },
            "telemetry": {"type": ["object", "null"], "additionalProperties": True},
            "commands": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
        },
        "required": ["device", "telemetry", "commands"],
    },
)


def _dates(value: Any) -> Any:
    """Datetimes as ISO text, all the way down."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {key: _dates(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_dates(item) for item in value]
    return value


@api_route(
    "/devices/<device_id>/live", roles=[Role.ADMIN], response=DEVICE_LIVE, errors=[404], tags=["devices"]
)
def get_device_live(device_id: str) -> Any:
    """One device's status, newest telemetry, acknowledged crop mode and latest commands.

    What the device page polls to stay current without a reload."""
    device = service.find(db_session, device_id)
    if device is None:
        abort(404, f"no device '{device_id}'")
    return _dates(device_live(db_session, device))
