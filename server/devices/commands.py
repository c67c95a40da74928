"""Commands to devices: queue (web), publish (ingest worker), record the device's answer (ingest).

Why a table in between (`DeviceCommand`, a server-side outbox) rather than publishing from the web
request: the web process holds no MQTT connection, a broker outage must not lose an operator's
command, and the operator needs to see what the device answered. The ingest worker, which is
connected anyway, calls `publish_pending` about twice a second; `apply_acks` runs on every
telemetry message, which carries the device's latest acknowledgements.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.audit import record
from server.db.models import Device, User
from server.db.models.commands import DeviceCommand
from server.db.types import utcnow
from server.i18n import N_
from shared.messages import Command, CommandAck, MessageError, check_command, topic

log = logging.getLogger(__name__)

DEFAULT_TTL = timedelta(minutes=10)
RECENT_SHOWN = 20
PUBLISH_TIMEOUT_S = 5.0
BATCH = 50


class CommandRejected(ValueError):
    """An unknown command name or invalid arguments (the sentence says which)."""


def issue(
    session: Session,
    device: Device,
    name: str,
    args: Mapping[str, Any] | None,
    user_id: int | None = None,
    ttl: timedelta = DEFAULT_TTL,
) -> DeviceCommand:
    """Validate with the contract's own rules and queue a command (the caller commits)."""
    if not isinstance(name, str):
        raise CommandRejected(N_("name must be a command name"))
    if args is not None and not isinstance(args, Mapping):
        raise CommandRejected(N_("args must be an object"))
    try:
        checked = check_command(name, dict(args or {}))
    except MessageError as exc:
        raise CommandRejected(str(exc)) from None
    now = utcnow()
    command = DeviceCommand(
        command_id=uuid.uuid4().hex,
        device_id=device.id,
        name=name,
        args=checked,
        status="pending",
        issued_by=user_id,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(command)
    session.flush()
    return command


def queue(
    session: Session, device: Device, name: str, args: Mapping[str, Any] | None, actor: User
) -> DeviceCommand:
    """`issue` for an administrator (web page or API): the command and its audit entry are
    committed together, so no command is sent that the audit trail does not show."""
    command = issue(session, device, name, args, actor.id)
    record(
        session,
        actor,
        "device.command",
        "device",
        device.id,
        after={"name": command.name, "args": command.args, "command_id": command.command_id},
    )
    session.commit()
    return command


def recent(session: Session, device: Device, limit: int = RECENT_SHOWN) -> list[DeviceCommand]:
    return list(
        session.scalars(
            select(DeviceCommand)
            .where(DeviceCommand.device_id == device.id)
            .order_by(DeviceCommand.created_at.desc(), DeviceCommand.id.desc())
            .limit(limit)
        )
    )


def as_json(command: DeviceCommand) -> dict[str, Any]:
    return {
        "command_id": command.command_id,
        "name": command.name,
        "args": dict(command.args or {}),
        "status": command.status,
        "detail": command.detail,
        "created_at": command.created_at,
        "expires_at": command.expires_at,
        "sent_at": command.sent_at,
        "answered_at": command.answered_at,
    }


def publish_pending(session: Session, client: mqtt.Client, now: datetime | None = None) -> int:
    """Publish queued commands (QoS 1, not retained) and mark them sent once the broker acknowledged;
    expire the stale ones. Returns how many were sent. `client` must be connected and looping."""
    now = now or utcnow()
    rows = session.scalars(
        select(DeviceCommand).where(DeviceCommand.status == "pending").order_by(DeviceCommand.id).limit(BATCH)
    ).all()
    sent = 0
    for row in rows:
        if row.expires_at <= now:
            row.status, row.detail = "expired", "not sent before it expired (broker or ingest down?)"
            continue
        message = Command(row.device.device_id, row.command_id, row.name, dict(row.args), row.expires_at)
        info = client.publish(topic(row.device.device_id, "commands"), message.encode(), qos=1)
        try:
            info.wait_for_publish(PUBLISH_TIMEOUT_S)
        except (RuntimeError, ValueError) as exc:
            log.warning("command %s not published: %s", row.command_id, exc)
            break  # not connected: the rest waits for the next round
        if not info.is_published():
            break
        row.status, row.sent_at = "sent", utcnow()
        sent += 1
    session.commit()
    return sent


def apply_acks(session: Session, device_pk: int, acks: Iterable[CommandAck]) -> int:
    """Record the device's answers; an ack repeated by later telemetry (or for a command that is
    not this device's) changes nothing. Returns how many commands were answered now."""
    acks = list(acks)
    if not acks:
        return 0
    rows = session.scalars(
        select(DeviceCommand).where(
            DeviceCommand.command_id.in_([a.command_id for a in acks]), DeviceCommand.device_id == device_pk
        )
    ).all()
    by_id = {row.command_id: row for row in rows}
    answered = 0
    for ack in acks:
        row = by_id.get(ack.command_id)
        if row is None or row.status in ("done", "refused"):
            continue
        row.status = "done" if ack.ok else "refused"
        row.detail = ack.detail[:255]
        row.answered_at = ack.at
        answered += 1
    return answered
