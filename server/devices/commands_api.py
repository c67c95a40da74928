"""Device commands in /api/v1 (administrators): queue one for a device, list what became of them.

A command is queued (202) and published by the ingest worker within a second; its `status` then goes
pending -> sent -> done | refused (the device's answer in `detail`), or expired when it could not
be sent in time. See `server.devices.commands`."""

from __future__ import annotations

from flask import abort
from flask_login import current_user

from server.api.endpoints import api_route
from server.db import db_session
from server.db.enums import Role
from server.devices.api import device_or_404
from server.devices.commands import CommandRejected, as_json, queue, recent
from server.devices.schemas import DeviceCommand, DeviceCommandList, DeviceCommandRequest

ADMIN = [Role.ADMIN]
TAGS = ["devices"]


@api_route(
    "/devices/<device_id>/commands",
    "POST",
    roles=ADMIN,
    request=DeviceCommandRequest,
    response=DeviceCommand,
    status=202,
    errors=[404],
    tags=TAGS,
)
def send_device_command(device_id: str, body: DeviceCommandRequest) -> tuple[DeviceCommand, int]:
    """Queue a command for a device.

    Validated like the device validates it (known name, valid arguments: 400 otherwise); the ingest
    worker publishes it on the device's commands topic (QoS 1) within a second. Poll the list below
    for the device's answer."""
    device = device_or_404(device_id)
    try:
        command = queue(db_session, device, body.name, body.args, current_user)
    except CommandRejected as exc:
        abort(400, str(exc))
    return DeviceCommand.model_validate(as_json(command)), 202


@api_route(
    "/devices/<device_id>/commands",
    roles=ADMIN,
    response=DeviceCommandList,
    errors=[404],
    tags=TAGS,
)
def list_device_commands(device_id: str) -> DeviceCommandList:
    """The device's latest commands, newest first, with their status and the device's answer."""
    device = device_or_404(device_id)
    commands = [as_json(c) for c in recent(db_session, device)]
    return DeviceCommandList.model_validate({"device_id": device.device_id, "commands": commands})
