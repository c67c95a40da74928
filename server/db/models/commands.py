"""Commands sent to devices (`visage/v1/devices/{id}/commands`) and what became of each.

A server-side outbox: the web process (API or devices page) only inserts a `pending` row; the ingest
worker, which holds the MQTT connection, publishes it within a second and marks it `sent` once the
broker acknowledged it; the device's acknowledgement (carried in its telemetry) makes it `done` or
`refused`. A command still pending at `expires_at` becomes `expired` and is never sent: a stale
order (say, a restart) must not run an hour later.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db.base import AUTOINCREMENT, Base
from server.db.models.school import Device
from server.db.types import utcnow

COMMAND_STATES = ("pending", "sent", "done", "refused", "expired")


class DeviceCommand(Base):
    __tablename__ = "device_commands"
    __table_args__ = (
        Index("ix_device_commands_status", "status"),
        Index("ix_device_commands_device_id_created_at", "device_id", "created_at"),
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    command_id: Mapped[str] = mapped_column(String(64), unique=True)  # what the device acks with
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(40))
    args: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    detail: Mapped[str | None] = mapped_column(String(255))  # the device's answer, or why not sent
    issued_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]  # device clock of the ack

    device: Mapped[Device] = relationship()
