"""Server -> device messages: each device's gallery (retained) and commands.

A device holds the gallery of the course running now in its room or, if none, of the next one
scheduled there (`next_session_for_device`); a device with neither gets an empty gallery, so it
stops recognising the previous course's students. The gallery is published retained at QoS 1, so a
device that (re)connects receives the latest one at once, and only when its sha256 differs from the
one last published to that device, or its version does (a course's accepted threshold moves the version
and not the sha256; both kept in `DeviceHealth.published_gallery_*`, so restarts and
several workers do not resend unchanged galleries). The record is written only after the broker
acknowledged the publish: a failed publish is retried on the next round.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db import get_db
from server.db.models import Device, DeviceHealth
from server.db.types import utcnow
from server.enrolment.gallery import build_gallery, canonical_sha256, configured, model_spec
from server.school.schedule import next_session_for_device
from shared.messages import Command, Gallery, GalleryStudent, gallery_digest, topic

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_S = 10.0
MAX_EMBEDDINGS_PER_STUDENT = 1000  # the contract's limit per student


def gallery_message(device_id: str, built: Mapping[str, Any]) -> Gallery:
    """`build_gallery`'s result as the MQTT contract's Gallery for one device.

    Students without accepted photos stay out of the message (the contract needs at least one
    embedding each); they are still part of the content the sha256 covers."""
    students = tuple(
        GalleryStudent(
            int(s["student_id"]),
            np.asarray(s["embeddings"][:MAX_EMBEDDINGS_PER_STUDENT], dtype=np.float32),
        )
        for s in built["students"]
        if s["embeddings"]
    )
    unknown = built.get("unknown_threshold")  # a course's accepted calibration only
    message = Gallery(
        device_id=device_id,
        course_id=built["course_id"],
        version=int(built["version"]),
        sha256="",
        model=str(built["model"]),
        metric=str(built["metric"]),
        threshold=float(built["threshold"]),
        students=students,
        unknown_threshold=None if unknown is None else float(unknown),
    )
    # Devices verify `shared.messages.gallery_digest`, computed over the numbers they receive.
    return dataclasses.replace(message, sha256=gallery_digest(message))


def empty_gallery(device_id: str) -> Gallery:
    """What a device with no course now or ahead holds: no students (version 0)."""
    model, threshold = configured()
    content = {"course_id": None, **model_spec(model, threshold), "students": []}
    return gallery_message(device_id, {**content, "version": 0, "sha256": canonical_sha256(content)})


def device_gallery(session: Session, device: Device) -> Gallery:
    """The gallery `device` should hold now (builds and adds a new course version when needed)."""
    lecture = next_session_for_device(session, device.device_id, utcnow())
    if lecture is None:
        return empty_gallery(device.device_id)
    return gallery_message(device.device_id, build_gallery(session, lecture.course_id))


def publish_galleries(app: Flask, client: mqtt.Client, timeout: float = PUBLISH_TIMEOUT_S) -> int:
    """Publish every device's gallery that changed since its last publish; returns how many were sent.

    `client` must be connected with its network loop running (the ingest worker's client is)."""
    sent = 0
    with get_db(app).session() as session, app.app_context():
        devices = session.scalars(select(Device).order_by(Device.id)).all()
        for device in devices:
            gallery = device_gallery(session, device)
            session.commit()  # a new course version is kept even if the publish below fails
            health = session.get(DeviceHealth, device.id)
            # The sha256 leaves the thresholds out (gallery_digest): a course's newly accepted threshold
            # keeps the sha256 and moves the version, so both must match to skip the device.
            if health is not None and (health.published_gallery_sha256, health.published_gallery_version) == (
                gallery.sha256,
                gallery.version,
            ):
                continue
            info = client.publish(topic(device.device_id, "gallery"), gallery.encode(), qos=1, retain=True)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError) as exc:
                log.warning("gallery for %s not published: %s", device.device_id, exc)
                continue
            if not info.is_published():
                log.warning("gallery for %s not acknowledged in %.0f s", device.device_id, timeout)
                continue
            if health is None:
                health = DeviceHealth(device_id=device.id, clock_skew_exceeded=False)
                session.add(health)
            health.published_gallery_sha256 = gallery.sha256
            health.published_gallery_version = gallery.version
            health.published_gallery_at = utcnow()
            session.commit()
            sent += 1
    return sent


def send_command(
    client: mqtt.Client, device_id: str, name: str, args: Mapping[str, Any] | None = None
) -> str:
    """Publish a command (QoS 1, not retained: a stale command must not run on reconnect);
    returns its command id, which the device reports back with."""
    command = Command(device_id, uuid.uuid4().hex, name, dict(args or {}))
    client.publish(topic(device_id, "commands"), command.encode(), qos=1)
    return command.command_id
