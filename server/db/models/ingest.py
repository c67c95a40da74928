"""What MQTT ingest records besides sightings: refused messages, device health, telemetry history.

`DeviceHealth` is a table of its own (one row per device) rather than columns on `devices`, so that
the thousands of status/last-seen updates ingest makes never touch the row operators edit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db.base import AUTOINCREMENT, Base
from server.db.models.school import Device
from server.db.types import BigId, Blob, utcnow


class RejectedMessage(Base):
    """A message ingest refused, and why (`reason` is `shared.messages.MessageError.reason` or one of
    ingest's own: unknown_device, unknown_student, replay, internal_error; docs/mqtt.md lists them).
    Kept for diagnosis, not reprocessed."""

    __tablename__ = "rejected_messages"
    __table_args__ = (
        Index("ix_rejected_messages_received_at", "received_at"),
        Index("ix_rejected_messages_device_id_received_at", "device_id", "received_at"),
        AUTOINCREMENT,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    topic: Mapped[str] = mapped_column(String(255))
    # The id the topic names (not a foreign key: unknown devices are exactly what gets refused).
    device_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    payload_size: Mapped[int]
    payload_head: Mapped[bytes] = mapped_column(Blob)  # the first 1 KiB, enough to see what it was


class DeviceHealth(Base):
    """A device's last known state as seen by ingest: online/offline, last message, clock skew."""

    __tablename__ = "device_health"

    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    # From the retained status topic (the broker publishes the device's Last Will "offline").
    status: Mapped[str | None] = mapped_column(String(16))
    status_at: Mapped[datetime | None]  # server clock, when the status arrived
    software: Mapped[str | None] = mapped_column(String(80))
    last_seen_at: Mapped[datetime | None]
    # Device clock minus server clock (seconds) on the latest message that carried a send time.
    clock_skew_seconds: Mapped[float | None] = mapped_column(Float)
    clock_skew_exceeded: Mapped[bool] = mapped_column(default=False)
    gallery_version: Mapped[int | None]
    # The gallery the server last published to the device (server.ingest.publisher): resent only
    # when its sha256 changes.
    published_gallery_sha256: Mapped[str | None] = mapped_column(String(64))
    published_gallery_version: Mapped[int | None]
    published_gallery_at: Mapped[datetime | None]
    # The model bundle announcement last published to the device (server.ingest.models_publisher).
    published_models_sha256: Mapped[str | None] = mapped_column(String(64))
    published_models_at: Mapped[datetime | None]

    device: Mapped[Device] = relationship()


class DeviceTelemetry(Base):
    """One telemetry report; ingest keeps the newest `INGEST_TELEMETRY_KEEP` rows per device."""

    __tablename__ = "device_telemetry"
    __table_args__ = (Index("ix_device_telemetry_device_id_at", "device_id", "at"), AUTOINCREMENT)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    at: Mapped[datetime]  # device clock
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    fps: Mapped[float] = mapped_column(Float)
    faces_per_second: Mapped[float] = mapped_column(Float)
    outbox_depth: Mapped[int]
    outbox_capacity: Mapped[int]
    stage_ms: Mapped[dict[str, Any] | None]
    cpu_temperature_c: Mapped[float | None] = mapped_column(Float)
    gallery_version: Mapped[int | None]
    uptime_s: Mapped[float | None] = mapped_column(Float)
    # {model: [execution providers in use, preferred first]}: a GPU device on its CPU shows here.
    providers: Mapped[dict[str, Any] | None]
    models: Mapped[dict[str, Any] | None]  # {model: first 12 hex of its sha256}
    models_bundle: Mapped[str | None] = mapped_column(String(64))  # the bundle version in use
    models_error: Mapped[str | None] = mapped_column(String(255))  # why the last model update failed
    capture_error: Mapped[str | None] = mapped_column(String(255))  # why the camera gives no frames
    crops: Mapped[str | None] = mapped_column(String(16))  # the device's crop mode (unknown, all, off)

    device: Mapped[Device] = relationship()
