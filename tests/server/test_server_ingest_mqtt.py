"""Ingest against the real Mosquitto (127.0.0.1:1883) and both databases: stored, deduplicated,
refused with the right reason, device state, and exactly-once across a worker restart."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import func, select

from server.db.models import (
    Classroom,
    Course,
    Device,
    DeviceHealth,
    DeviceTelemetry,
    LectureSession,
    RejectedMessage,
    Sighting,
    Student,
)
from server.ingest import IngestWorker
from shared.messages import SightingBatch, SightingEvent, Status, Telemetry, topic
from tests.conftest import BROKER, require_broker


def forget_session(client_id: str) -> None:
    """Drop a worker's persistent session from the broker (a clean-session connect replaces it)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    client.connect(*BROKER)
    client.loop_start()
    client.disconnect()
    client.loop_stop()


@pytest.fixture
def scene(db) -> dict:
    """A device in a room with a lecture running now, and an enrolled student."""
    now = datetime.now(timezone.utc)
    room = Classroom(name=f"R-{secrets.token_hex(3)}")
    device = Device(device_id=f"cam-{secrets.token_hex(4)}", name="Front", classroom=room)
    student = Student(student_number=secrets.token_hex(4), name="Kim")
    course = Course(code=secrets.token_hex(4), title="Intro", students=[student])
    lecture = LectureSession(
        course=course, classroom=room, starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1)
    )
    other = Device(device_id=f"cam-{secrets.token_hex(4)}", name="Other")
    db.add_all([room, device, student, course, lecture, other])
    db.commit()
    return {"device": device, "student": student, "lecture": lecture, "other": other}


@pytest.fixture
def make_worker(app) -> Iterator[Callable[..., IngestWorker]]:
    require_broker()
    group = f"test-{secrets.token_hex(4)}"
    started: list[IngestWorker] = []
    ids: set[str] = set()

    def make(worker_id: str = "w1") -> IngestWorker:
        worker = IngestWorker(app, f"{group}-{worker_id}", *BROKER, batch_size=50, group=group)
        worker.start()
        started.append(worker)
        ids.add(worker.client._client_id.decode())
        return worker

    yield make
    for worker in started:
        if worker._thread is not None and worker._thread.is_alive():
            worker.stop(drain=False)
    for client_id in ids:
        forget_session(client_id)


def batch(device_id: str, ids: list[str], student: int | None = None, score: float = 0.8) -> bytes:
    now = datetime.now(timezone.utc)
    events = tuple(
        SightingEvent(event_id=i, track_id=n, captured_at=now, score=score, student_id=student)
        for n, i in enumerate(ids)
    )
    return SightingBatch(device_id, f"b-{secrets.token_hex(4)}", now, events).encode()


def wait_for(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "ingest did not store the expected rows in time"
        time.sleep(0.05)


def count(db, statement) -> int:
    db.rollback()  # a fresh snapshot each time
    return db.scalar(statement)


def sightings_of(db, device: Device) -> int:
    return count(db, select(func.count()).select_from(Sighting).where(Sighting.device_id == device.id))


def reasons(db, *device_ids: str) -> list[str]:
    """Rejections for these devices (the shared broker may hold other tests' retained messages)."""
    db.rollback()
    query = select(RejectedMessage.reason).where(RejectedMessage.device_id.in_(device_ids))
    return list(db.scalars(query.order_by(RejectedMessage.id)))


def test_valid_batches_are_stored_once_with_session_and_arrival_time(db, scene, make_worker, publisher):
    device, student, lecture = scene["device"], scene["student"], scene["lecture"]
    worker = make_worker()
    ids = [f"ev-{secrets.token_hex(6)}" for _ in range(5)]
    payload = batch(device.device_id, ids, student=student.id)
    publisher.send(topic(device.device_id, "sightings"), payload)
    publisher.send(topic(device.device_id, "sightings"), payload)  # redelivered / sent twice
    publisher.send(topic(device.device_id, "sightings"), batch(device.device_id, ["ev-unknown-face"]))
    wait_for(lambda: sightings_of(db, device) == 6)
    publisher.send(topic(device.device_id, "sightings"), payload)  # and once more, after it was stored
    wait_for(lambda: worker.stats["duplicate"] >= 1)

    db.rollback()
    rows = db.scalars(select(Sighting).where(Sighting.device_id == device.id)).all()
    assert sorted(r.event_id for r in rows) == sorted([*ids, "ev-unknown-face"])
    assert all(r.session_id == lecture.id and r.received_at is not None for r in rows)
    assert {r.student_id for r in rows} == {student.id, None}
    assert sightings_of(db, device) == 6 and reasons(db, device.device_id) == []
    health = db.get(DeviceHealth, device.id)
    assert health.last_seen_at is not None and health.clock_skew_exceeded is False


def test_each_bad_message_is_recorded_and_ingest_keeps_going(db, scene, make_worker, publisher):
    device, other, student = scene["device"], scene["other"], scene["student"]
    make_worker()
    name = topic(device.device_id, "sightings")
    stored_id = f"ev-{secrets.token_hex(6)}"
    publisher.send(name, batch(device.device_id, [stored_id], student=student.id))
    wait_for(lambda: sightings_of(db, device) == 1)

    good = json.loads(batch(device.device_id, ["ev-valid-0001"]))
    publisher.send(name, b"{not json")
    publisher.send(name, json.dumps({**good, "events": "nope"}).encode())
    publisher.send(name, json.dumps({**good, "schema": 99}).encode())
    publisher.send(name, b"{" + b" " * (600 * 1024) + b"}")
    publisher.send(topic(other.device_id, "sightings"), batch(device.device_id, ["ev-valid-0002"]))
    nobody = f"cam-nobody-{secrets.token_hex(4)}"
    publisher.send(topic(nobody, "sightings"), batch(nobody, ["ev-valid-0003"]))
    publisher.send(name, batch(device.device_id, [stored_id], student=student.id, score=0.1))  # altered
    publisher.send("visage/v1/devices/bad.id/sightings", b"{}")
    publisher.send(name, batch(device.device_id, ["ev-ghost-01"], student=student.id + 999))
    publisher.send(name, batch(device.device_id, ["ev-after-bad"]))
    wait_for(lambda: sightings_of(db, device) == 2)

    assert reasons(db, device.device_id, other.device_id, nobody, "bad.id") == [
        "malformed_json",
        "bad_schema",
        "unsupported_version",
        "oversized",
        "device_mismatch",
        "unknown_device",
        "replay",
        "bad_topic",
        "unknown_student",
    ]
    db.rollback()
    stored = set(db.scalars(select(Sighting.event_id).where(Sighting.device_id == device.id)))
    assert stored == {stored_id, "ev-after-bad"}  # nothing from the refused ones
    assert db.scalar(select(Sighting.score).where(Sighting.event_id == stored_id)) == pytest.approx(0.8)
    oversized = db.scalars(select(RejectedMessage).where(RejectedMessage.reason == "oversized")).one()
    assert oversized.payload_size > 600 * 1024 and len(oversized.payload_head) == 1024
    mismatch = db.scalars(select(RejectedMessage).where(RejectedMessage.reason == "device_mismatch")).one()
    assert mismatch.device_id == other.device_id and mismatch.topic == topic(other.device_id, "sightings")


def test_status_and_telemetry_update_the_device(db, scene, make_worker, publisher, app):
    device = scene["device"]
    make_worker()
    now = datetime.now(timezone.utc)
    publisher.send(topic(device.device_id, "status"), Status(device.device_id, "online", now, "1.2").encode())
    for n in range(3):
        report = Telemetry(
            device.device_id,
            now,
            fps=10 + n,
            faces_per_second=2,
            outbox_depth=n,
            outbox_capacity=1000,
            stage_ms={"detect": 12.5},
            cpu_temperature_c=55.0,
            gallery_version=4,
            models={"sface": "0123456789ab"},
            providers={"sface": ("CUDAExecutionProvider", "CPUExecutionProvider")},
            models_bundle="909d1c8c7117a3d0",
            models_error="model update failed: sface.onnx does not match the manifest" if n == 2 else None,
        )
        publisher.send(topic(device.device_id, "telemetry"), report.encode(), qos=0)
    wait_for(
        lambda: (
            count(
                db,
                select(func.count())
                .select_from(DeviceTelemetry)
                .where(DeviceTelemetry.device_id == device.id),
            )
            == 3
        )
    )
    # QoS 0 telemetry may overtake the QoS 1 status (the broker holds QoS 1 messages back while the
    # worker's in-flight window is full, e.g. of other devices' retained statuses): wait for both.
    wait_for(lambda: (db.rollback(), db.get(DeviceHealth, device.id))[1] is not None)
    wait_for(lambda: (db.rollback(), db.get(DeviceHealth, device.id).status)[1] == "online")
    health = db.get(DeviceHealth, device.id)
    assert health.status == "online" and health.software == "1.2"
    rows = db.scalars(
        select(DeviceTelemetry).where(DeviceTelemetry.device_id == device.id).order_by(DeviceTelemetry.id)
    ).all()
    assert [r.fps for r in rows] == [10, 11, 12] and rows[0].stage_ms == {"detect": 12.5}
    assert rows[-1].gallery_version == 4 and rows[-1].outbox_capacity == 1000
    assert rows[-1].providers == {"sface": ["CUDAExecutionProvider", "CPUExecutionProvider"]}
    assert rows[-1].models == {"sface": "0123456789ab"}
    assert [r.models_bundle for r in rows] == ["909d1c8c7117a3d0"] * 3
    assert [r.models_error for r in rows] == [
        None,
        None,
        "model update failed: sface.onnx does not match the manifest",
    ]

    late = now - timedelta(minutes=10)  # a device clock ten minutes behind
    publisher.send(topic(device.device_id, "status"), Status(device.device_id, "offline", late).encode())
    wait_for(lambda: (db.rollback(), db.get(DeviceHealth, device.id).status)[1] == "offline")
    assert db.get(DeviceHealth, device.id).clock_skew_exceeded is False  # status carries no send time
    publisher.send(
        topic(device.device_id, "telemetry"), Telemetry(device.device_id, late, 1, 0, 0, 10).encode()
    )
    wait_for(
        lambda: (
            count(
                db,
                select(func.count())
                .select_from(DeviceTelemetry)
                .where(DeviceTelemetry.device_id == device.id),
            )
            == 4
        )
    )
    db.rollback()
    assert db.get(DeviceHealth, device.id).clock_skew_exceeded is True


def test_restarted_worker_gets_what_was_published_while_it_was_down_exactly_once(
    db, scene, make_worker, publisher
):
    device = scene["device"]
    name = topic(device.device_id, "sightings")
    ids = [f"ev-{n:04d}-{secrets.token_hex(4)}" for n in range(300)]
    payloads = [batch(device.device_id, ids[n : n + 10]) for n in range(0, 300, 10)]
    worker = make_worker("fault")
    for payload in payloads[:10]:
        publisher.send(name, payload)
    worker.stop(drain=False)  # as if killed: whatever was queued is neither stored nor acknowledged
    for payload in payloads[10:] + payloads[:5]:  # the first ones again, as after a lost ack
        publisher.send(name, payload)

    make_worker("fault")  # same worker id: the broker session kept what arrived meanwhile
    wait_for(lambda: sightings_of(db, device) == 300)
    db.rollback()
    stored = db.scalars(select(Sighting.event_id).where(Sighting.device_id == device.id)).all()
    assert sorted(stored) == sorted(ids)
    assert reasons(db, device.device_id) == []


def test_a_crash_between_receipt_and_commit_loses_nothing(db, scene, make_worker, publisher, monkeypatch):
    import server.ingest.worker as worker_module

    device = scene["device"]
    payloads = [batch(device.device_id, [f"ev-crash-{n:03d}-{secrets.token_hex(3)}"]) for n in range(20)]

    class Killed(BaseException):
        """A process dying (SIGKILL, power loss): not an error that the worker's guard may absorb,
        which records a message that fails with an Exception as refused (test_server_ingest_poison)."""

    def crash(*args, **kwargs):
        raise Killed("simulated crash before the commit")

    monkeypatch.setattr(worker_module, "process_batch", crash)
    worker = make_worker("crashy")
    for payload in payloads:
        publisher.send(topic(device.device_id, "sightings"), payload)
    wait_for(worker.failed.is_set)
    worker.stop()
    assert sightings_of(db, device) == 0  # received, never committed, never acknowledged

    monkeypatch.undo()
    make_worker("crashy")
    wait_for(lambda: sightings_of(db, device) == 20)
