"""Queries behind the devices page and API: latest health and telemetry per device, history, rejects.

Read-only; figures come from what ingest stored (`DeviceHealth`, `DeviceTelemetry`,
`RejectedMessage`), so the page shows exactly what the server last heard, not a guess.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from server.db.models import Device, DeviceHealth, DeviceTelemetry, RejectedMessage

BACKLOG_ALARM = 0.8  # outbox fill ratio above which operators are warned
HISTORY_LIMIT = 2000


def _backlog(row: DeviceTelemetry | None) -> dict[str, Any] | None:
    if row is None or row.outbox_capacity <= 0:
        return None
    ratio = row.outbox_depth / row.outbox_capacity
    return {
        "depth": row.outbox_depth,
        "capacity": row.outbox_capacity,
        "ratio": round(ratio, 4),
        "alarm": ratio > BACKLOG_ALARM,
    }


def overview(session: Session) -> list[dict[str, Any]]:
    """One entry per device: status, last seen, latest telemetry figures, gallery and clock flags."""
    devices = session.scalars(
        select(Device).options(selectinload(Device.classroom)).order_by(Device.device_id)
    ).all()
    health = {h.device_id: h for h in session.scalars(select(DeviceHealth))}
    newest = select(func.max(DeviceTelemetry.id)).group_by(DeviceTelemetry.device_id)
    latest = {
        t.device_id: t for t in session.scalars(select(DeviceTelemetry).where(DeviceTelemetry.id.in_(newest)))
    }
    return [_entry(d, health.get(d.id), latest.get(d.id)) for d in devices]


def _entry(device: Device, health: DeviceHealth | None, tele: DeviceTelemetry | None) -> dict[str, Any]:
    return {
        "id": device.id,
        "device_id": device.device_id,
        "name": device.name,
        "classroom": device.classroom.name if device.classroom else None,
        "online": health is not None and health.status == "online",
        "status": health.status if health else None,
        "software": health.software if health else None,
        "last_seen_at": health.last_seen_at if health else None,
        "clock_skew_seconds": health.clock_skew_seconds if health else None,
        "clock_skew_exceeded": bool(health and health.clock_skew_exceeded),
        "gallery_version": (
            health.gallery_version
            if health and health.gallery_version is not None
            else tele.gallery_version
            if tele
            else None
        ),
        "published_gallery_version": health.published_gallery_version if health else None,
        "fps": tele.fps if tele else None,
        "faces_per_second": tele.faces_per_second if tele else None,
        "stage_ms": dict(tele.stage_ms or {}) if tele else {},
        "cpu_temperature_c": tele.cpu_temperature_c if tele else None,
        "providers": dict(tele.providers or {}) if tele else {},
        "models": dict(tele.models or {}) if tele else {},
        "models_bundle": tele.models_bundle if tele else None,
        "crops": tele.crops if tele else None,  # the face crops the device sends (shared CROP_MODES)
        "problems": [p for p in (tele.capture_error, tele.models_error) if p] if tele else [],
        "runs_on": runs_on(tele.providers if tele else None),
        "telemetry_at": tele.at if tele else None,
        "backlog": _backlog(tele),
    }


def find(session: Session, device_id: str) -> Device | None:
    return session.scalars(select(Device).where(Device.device_id == device_id)).first()


def history(
    session: Session, device: Device, since: datetime | None, limit: int = HISTORY_LIMIT
) -> list[DeviceTelemetry]:
    """Telemetry received since `since` (all kept rows when None), oldest first, newest `limit`."""
    query = select(DeviceTelemetry).where(DeviceTelemetry.device_id == device.id)
    if since is not None:
        query = query.where(DeviceTelemetry.at >= since)
    rows = session.scalars(query.order_by(DeviceTelemetry.at.desc(), DeviceTelemetry.id.desc()).limit(limit))
    return list(reversed(rows.all()))


def telemetry_json(row: DeviceTelemetry) -> dict[str, Any]:
    return {
        "at": row.at,
        "fps": row.fps,
        "faces_per_second": row.faces_per_second,
        "outbox_depth": row.outbox_depth,
        "outbox_capacity": row.outbox_capacity,
        "stage_ms": dict(row.stage_ms or {}),
        "cpu_temperature_c": row.cpu_temperature_c,
        "gallery_version": row.gallery_version,
        "providers": dict(row.providers or {}),
        "models": dict(row.models or {}),
        "models_bundle": row.models_bundle,
        "models_error": row.models_error,
        "capture_error": row.capture_error,
        "crops": row.crops,
    }


def runs_on(providers: dict[str, Any] | None) -> list[dict[str, Any]]:
    """[{provider, models}] grouped by the provider each model runs on first, e.g. TensorRT for six
    models and CPU for one: what an operator checks after installing a GPU build."""
    groups: dict[str, list[str]] = {}
    for model, names in sorted((providers or {}).items()):
        first = str(names[0]) if isinstance(names, list) and names else "unknown"
        groups.setdefault(first.removesuffix("ExecutionProvider"), []).append(model)
    return [{"provider": provider, "models": models} for provider, models in sorted(groups.items())]


def rejected(session: Session, device_id: str | None, limit: int) -> list[RejectedMessage]:
    """Newest refused messages first, optionally of one device id (as named by the topic)."""
    query = select(RejectedMessage)
    if device_id:
        query = query.where(RejectedMessage.device_id == device_id)
    return list(
        session.scalars(
            query.order_by(RejectedMessage.received_at.desc(), RejectedMessage.id.desc()).limit(limit)
        )
    )


def rejected_json(row: RejectedMessage) -> dict[str, Any]:
    return {
        "id": row.id,
        "device_id": row.device_id,
        "topic": row.topic,
        "reason": row.reason,
        "detail": row.detail,
        "received_at": row.received_at,
        "payload_size": row.payload_size,
    }
