"""Gallery publishing against the real Mosquitto (127.0.0.1:1883), both databases: a retained gallery
the contract decodes, nothing resent while unchanged, and an empty retained status ignored."""

from __future__ import annotations

import queue
import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import func, select

from edge.gallery import GalleryStore
from server.db.enums import FaceKind
from server.db.models import Classroom, Course, Device, FaceTemplate, LectureSession, RejectedMessage, Student
from server.faces.embeddings import to_bytes
from server.faces.model import DEFAULT_MODEL
from server.ingest.publisher import publish_galleries, send_command
from server.ingest.store import Incoming, IngestSettings, process_batch
from shared.messages import Command, Gallery, topic
from tests.server.test_server_ingest_mqtt import BROKER, require_broker


@pytest.fixture
def mqtt_client() -> Iterator[mqtt.Client]:
    require_broker()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{secrets.token_hex(4)}")
    client.connect(*BROKER)
    client.loop_start()
    yield client
    client.disconnect()
    client.loop_stop()


def receive_retained(name: str) -> bytes:
    """Subscribe afresh and return the retained message the broker hands over."""
    got: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{secrets.token_hex(4)}")
    sub.on_message = lambda c, u, m: got.put(m)
    sub.on_connect = lambda c, u, f, rc, p: c.subscribe(name, qos=1)
    sub.connect(*BROKER)
    sub.loop_start()
    try:
        message = got.get(timeout=10)
    finally:
        sub.disconnect()
        sub.loop_stop()
    assert message.retain
    return bytes(message.payload)


@pytest.fixture
def scene(db) -> dict:
    now = datetime.now(timezone.utc)
    room = Classroom(name=f"R-{secrets.token_hex(3)}")
    device = Device(device_id=f"cam-{secrets.token_hex(4)}", name="Front", classroom=room)
    student = Student(student_number=secrets.token_hex(4), name="Kim")
    course = Course(code=secrets.token_hex(4), title="Intro", students=[student])
    lecture = LectureSession(
        course=course, classroom=room, starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1)
    )
    vector = np.random.default_rng(1).normal(size=128).astype(np.float32)
    face = FaceTemplate(
        student=student, kind=FaceKind.PHOTO, embedding=to_bytes(vector), dim=128, model=DEFAULT_MODEL
    )
    db.add_all([room, device, student, course, lecture, face])
    db.commit()
    return {"device": device, "student": student, "course": course, "vector": vector}


def test_gallery_published_retained_once_until_it_changes(app, db, mqtt_client, scene, tmp_path):
    device = scene["device"].device_id
    assert publish_galleries(app, mqtt_client) == 1
    gallery = Gallery.decode(receive_retained(topic(device, "gallery")), expected_device=device)
    assert gallery.course_id == scene["course"].id and gallery.version == 1 and len(gallery.sha256) == 64
    assert [s.student_id for s in gallery.students] == [scene["student"].id]
    np.testing.assert_allclose(gallery.students[0].embeddings[0], scene["vector"], rtol=1e-6)

    # The device side verifies the digest with the same contract code and accepts it.
    store = GalleryStore(tmp_path / "gallery.json", device_id=device, model=gallery.model)
    assert store.offer(gallery), store.rejected
    assert store.current is not None and store.current.version == 1

    assert publish_galleries(app, mqtt_client) == 0  # unchanged: nothing resent

    db.add(
        FaceTemplate(
            student_id=scene["student"].id,
            kind=FaceKind.PHOTO,
            dim=128,
            model=DEFAULT_MODEL,
            embedding=to_bytes(np.random.default_rng(2).normal(size=128)),
        )
    )
    db.commit()
    assert publish_galleries(app, mqtt_client) == 1
    newer = Gallery.decode(receive_retained(topic(device, "gallery")), expected_device=device)
    assert newer.version == 2 and newer.sha256 != gallery.sha256
    assert len(newer.students[0].embeddings) == 2


def test_send_command_publishes_a_decodable_command(mqtt_client, scene):
    device = scene["device"].device_id
    got: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{secrets.token_hex(4)}")
    sub.on_message = lambda c, u, m: got.put(m)
    subscribed = queue.Queue()
    sub.on_subscribe = lambda *a: subscribed.put(True)
    sub.connect(*BROKER)
    sub.loop_start()
    try:
        sub.subscribe(topic(device, "commands"), qos=1)
        subscribed.get(timeout=10)
        command_id = send_command(mqtt_client, device, "set_thumbnails", {"enabled": True})
        command = Command.decode(got.get(timeout=10).payload, expected_device=device)
    finally:
        sub.disconnect()
        sub.loop_stop()
    assert (command.command_id, command.name, dict(command.args)) == (
        command_id,
        "set_thumbnails",
        {"enabled": True},
    )


def test_empty_retained_status_is_ignored_not_rejected(db, scene):
    device = scene["device"].device_id
    outcomes = process_batch(db, [Incoming(topic(device, "status"), b"")], IngestSettings())
    db.commit()
    assert [o.result for o in outcomes] == ["ignored"]
    assert db.scalar(select(func.count()).select_from(RejectedMessage)) == 0
    # a non-empty malformed status is still refused
    outcomes = process_batch(db, [Incoming(topic(device, "status"), b"{")], IngestSettings())
    db.commit()
    assert [o.result for o in outcomes] == ["rejected"]
