"""Devices in /api/v1 (administrators only, as devices are in school management): the status of
every device, one device's telemetry history and the messages ingest refused."""

from __future__ import annotations

from flask import abort
from flask_babel import gettext

from server.api.endpoints import api_route
from server.db import db_session
from server.db.enums import Role
from server.db.models import Device
from server.devices import service
from server.devices.schemas import (
    DeviceStatusList,
    DeviceTelemetry,
    RejectedMessageList,
    RejectedQuery,
    TelemetryQuery,
)

ADMIN = [Role.ADMIN]
TAGS = ["devices"]


def device_or_404(device_id: str) -> Device:
    """The registered device with this id (as it publishes under), or a 404 naming it."""
    device = service.find(db_session, device_id)
    if device is None:
        abort(404, gettext("no device '%(id)s'", id=device_id))
    return device


@api_route(
    "/devices/status",
    roles=ADMIN,
    response=DeviceStatusList,
    tags=TAGS,
)
def devices_status() -> DeviceStatusList:
    """Every device's health and latest telemetry.

    online/offline from the retained status, FPS, per-stage latency, outbox backlog (alarm above
    80 %), CPU temperature, gallery version and the clock-skew flag."""
    return DeviceStatusList.model_validate({"devices": service.overview(db_session)})


@api_route(
    "/devices/<device_id>/telemetry",
    roles=ADMIN,
    response=DeviceTelemetry,
    errors=[400, 404],
    query=TelemetryQuery,
    tags=TAGS,
)
def device_telemetry(device_id: str, query: TelemetryQuery) -> DeviceTelemetry:
    """One device's telemetry history, oldest first (device clock), optionally since an instant."""
    device = device_or_404(device_id)
    rows = service.history(db_session, device, query.since)
    points = [service.telemetry_json(r) for r in rows]
    return DeviceTelemetry.model_validate({"device_id": device.device_id, "telemetry": points})


@api_route(
    "/rejected-messages",
    roles=ADMIN,
    response=RejectedMessageList,
    errors=[400],
    query=RejectedQuery,
    tags=TAGS,
)
def rejected_messages(query: RejectedQuery) -> RejectedMessageList:
    """Messages ingest refused, newest first, with the reason and detail."""
    rows = service.rejected(db_session, query.device or None, query.limit)
    return RejectedMessageList.model_validate({"rejected": [service.rejected_json(r) for r in rows]})
