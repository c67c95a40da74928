"""Device commands in /api/v1 (administrators): queue one for a device, list what became of them.

A command is queued (202) and published by the ingest worker within a second; its `status` then goes
pending -> sent -> done | refused (the device's answer in `detail`), or expired when it could not
be sent in time. See `server.devices.commands`."""

from __future__ import annotations

from typing import Any

from flask import abort
from flask_login import current_user

from server.api.endpoints import api_route, registry
from server.api.io import json_body
from server.db import db_session
from server.db.enums import Role
from server.devices import service
from server.devices.api import _dates
from server.devices.commands import CommandRejected, as_json, queue, recent
from shared.messages import COMMANDS

ADMIN = [Role.ADMIN]
TAGS = ["devices"]

COMMAND = registry.schema(
    "DeviceCommand",
    {
        "type": "object",
        "properties": {
            "command_id": {"type": "string"},
            "name": {"type": "string", "enum": list(COMMANDS)},
            "args": {"type": "object"},
            "status": {"type": "string", "enum": ["pending", "sent", "done", "refused", "expired"]},
            "detail": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "expires_at": {"type": "string", "format": "date-time"},
            "sent_at": {"type": ["string", "null"], "format": "date-time"},
            "answered_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
)
COMMAND_REQUEST = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "enum": list(COMMANDS)},
        "args": {
            "type": ["object", "null"],
            "description": "set_crops: {mode: unknown|all|off}; set_thumbnails: {enabled: bool} (true: all,"
            " false: unknown); set_telemetry_interval: {seconds: 1-3600}; the others take none.",
        },
    },
    "required": ["name"],
}


def _device(device_id: str):
    device = service.find(db_session, device_id)
    if device is None:
        abort(404, f"no device '{device_id}'")
    return device


@api_route(
    "/devices/<device_id>/commands",
    "POST",
    roles=ADMIN,
    request=COMMAND_REQUEST,
    response=COMMAND,
    status=202,
    errors=[404],
    tags=TAGS,
)
def send_device_command(device_id: str) -> Any:
    """Queue a command for a device.

    Validated like the device validates it (known name, valid arguments: 400 otherwise); the ingest
    worker publishes it on the device's commands topic (QoS 1) within a second. Poll the list below
    for the device's answer."""
    device = _device(device_id)
    body = json_body()
    try:
        command = queue(db_session, device, body.get("name"), body.get("args"), current_user)
    except CommandRejected as exc:
        abort(400, str(exc))
    return _dates(as_json(command)), 202


@api_route(
    "/devices/<device_id>/commands",
    roles=ADMIN,
    response={"type": "object", "properties": {"commands": {"type": "array", "items": COMMAND}}},
    errors=[404],
    tags=TAGS,
)
def list_device_commands(device_id: str) -> Any:
    """The device's latest commands, newest first, with their status and the device's answer."""
    device = _device(device_id)
    return {
        "device_id": device.device_id,
        "commands": [_dates(as_json(c)) for c in recent(db_session, device)],
    }
