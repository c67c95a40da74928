"""One device's page as a JSON document, polled by the page (static/devices.js through the shared
helper static/live.js) so status, latest telemetry and command answers appear without a reload.

The crop selector shows the device's *acknowledged* state: the mode its newest telemetry reports,
unless a set_crops / set_thumbnails command was acknowledged after that telemetry was sent (the
device confirmed the change before its next report), in which case the acknowledged mode.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import Device, DeviceCommand, DeviceTelemetry
from server.devices import commands, service

CROP_COMMANDS = ("set_crops", "set_thumbnails")


def crops_of(command: DeviceCommand) -> str | None:
    """The crop mode a command sets (set_thumbnails on = every face, off = unknown faces only)."""
    args = dict(command.args or {})
    if command.name == "set_crops":
        mode = args.get("mode")
        return mode if isinstance(mode, str) else None
    if command.name == "set_thumbnails" and isinstance(args.get("enabled"), bool):
        return "all" if args["enabled"] else "unknown"
    return None


def acknowledged_crops(
    session: Session, device: Device, reported: str | None, reported_at: datetime | None
) -> str | None:
    """The crop mode the device last confirmed: its telemetry's, or a newer acknowledged command's."""
    newest = session.scalars(
        select(DeviceCommand)
        .where(
            DeviceCommand.device_id == device.id,
            DeviceCommand.name.in_(CROP_COMMANDS),
            DeviceCommand.status == "done",
            DeviceCommand.answered_at.is_not(None),
        )
        .order_by(DeviceCommand.answered_at.desc(), DeviceCommand.id.desc())
        .limit(1)
    ).first()
    if newest is not None and (reported_at is None or newest.answered_at > reported_at):
        return crops_of(newest) or reported
    return reported


def latest_telemetry(session: Session, device: Device) -> DeviceTelemetry | None:
    return session.scalars(
        select(DeviceTelemetry)
        .where(DeviceTelemetry.device_id == device.id)
        .order_by(DeviceTelemetry.at.desc(), DeviceTelemetry.id.desc())
        .limit(1)
    ).first()


def device_live(session: Session, device: Device) -> dict[str, Any]:
    """Status (as the devices list shows it), the newest telemetry, the crop mode and the commands."""
    entry = next(e for e in service.overview(session) if e["id"] == device.id)
    latest = latest_telemetry(session, device)
    entry["crops"] = acknowledged_crops(session, device, entry["crops"], entry["telemetry_at"])
    return {
        "device": entry,
        "telemetry": service.telemetry_json(latest) if latest is not None else None,
        "commands": [commands.as_json(c) for c in commands.recent(session, device)],
    }
