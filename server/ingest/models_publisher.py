"""Server -> device: the model bundle announcement, retained on `visage/v1/devices/<id>/models`.

Like galleries (server.ingest.publisher): published retained at QoS 1, so a device that connects gets
the current one at once, and only when it differs from the one last published to that device
(`DeviceHealth.published_models_sha256`, kept after the broker acknowledged), so restarts and several
workers do not announce an unchanged bundle again. The announcement names the bundle's version, the
sha256 of the manifest the server serves and the galleries' embedder; the device fetches the bundle
itself over HTTPS (server.devices.models_api) with its device token.
"""

from __future__ import annotations

import logging

import paho.mqtt.client as mqtt
from flask import Flask
from sqlalchemy import select

from server.db import get_db
from server.db.models import Device, DeviceHealth
from server.db.types import utcnow
from server.devices.models_bundle import BundleUnavailable, ServedBundle, current_bundle
from shared.messages import ModelsAnnouncement, topic

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_S = 10.0
_last_unavailable: list[str] = []  # the last "no bundle" reason logged (once per distinct reason)


def announcement(device_id: str, bundle: ServedBundle) -> ModelsAnnouncement:
    return ModelsAnnouncement(
        device_id=device_id,
        bundle_version=bundle.version,
        manifest_sha256=bundle.sha256,
        embedder=bundle.embedder,
        format=int(bundle.manifest["format"]),
    )


def publish_models(app: Flask, client: mqtt.Client, timeout: float = PUBLISH_TIMEOUT_S) -> int:
    """Announce the current bundle to every device that has not had it yet; returns how many were sent.

    `client` must be connected with its network loop running (the ingest worker's client is). With no
    bundle to offer (models not exported), nothing is announced and the reason is logged once."""
    try:
        bundle = current_bundle(app)
    except BundleUnavailable as exc:
        if _last_unavailable != [str(exc)]:
            log.warning("no model bundle to announce: %s", exc)
            _last_unavailable[:] = [str(exc)]
        return 0
    _last_unavailable.clear()
    sent = 0
    with get_db(app).session() as session:
        devices = session.scalars(select(Device).order_by(Device.id)).all()
        health = {h.device_id: h for h in session.scalars(select(DeviceHealth))}
        for device in devices:
            row = health.get(device.id)
            if row is not None and row.published_models_sha256 == bundle.sha256:
                continue
            payload = announcement(device.device_id, bundle).encode()
            info = client.publish(topic(device.device_id, "models"), payload, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError) as exc:
                log.warning("model bundle announcement for %s not published: %s", device.device_id, exc)
                continue
            if not info.is_published():
                log.warning("model bundle announcement for %s not acknowledged", device.device_id)
                continue
            if row is None:
                row = DeviceHealth(device_id=device.id, clock_skew_exceeded=False)
                session.add(row)
            row.published_models_sha256 = bundle.sha256
            row.published_models_at = utcnow()
            session.commit()
            sent += 1
    if sent:
        log.info("announced model bundle %s to %d device(s)", bundle.version, sent)
    return sent
