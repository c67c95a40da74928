"""Commands to devices (both databases): the admin API and the device page queue them, the real ingest
worker publishes them through the real Mosquitto (127.0.0.1:1883) to a real edge agent's MQTT link,
which executes them and answers in its telemetry; and a roster change republishes the gallery at once.
"""

from __future__ import annotations

import queue
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import select

from edge.agent import EdgeAgent
from edge.config import EdgeConfig
from edge.mqtt import MqttSettings
from server.db.enums import FaceKind
from server.db.models import AuditLog, Classroom, Course, Device, FaceTemplate, LectureSession, Student
from server.db.models.commands import DeviceCommand
from server.faces.embeddings import to_bytes
from server.faces.model import DEFAULT_MODEL
from server.ingest import IngestWorker
from shared.messages import Gallery, topic
from tests.server.conftest import CSRF_FIELD, PASSWORD
from tests.server.test_server_ingest_mqtt import BROKER, forget_session, require_broker, wait_for

WAIT = 15.0


def admin_headers(make_user, make_token) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(make_user(role='admin'))}"}


def command_row(db, command_id: str) -> DeviceCommand:
    db.rollback()  # a fresh snapshot
    return db.scalars(select(DeviceCommand).where(DeviceCommand.command_id == command_id)).one()


@pytest.fixture
def start_ingest(app) -> Iterator[Callable[[], IngestWorker]]:
    """A real ingest worker on the system Mosquitto, in a share group of its own."""
    require_broker()
    started: list[IngestWorker] = []

    def start() -> IngestWorker:
        worker = IngestWorker(
            app, f"cmd-{secrets.token_hex(4)}", *BROKER, group=f"test-{secrets.token_hex(4)}"
        )
        worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop(drain=False)
        forget_session(worker.client._client_id.decode())


@pytest.fixture
def device(db) -> Device:
    row = Device(device_id=f"cam-{secrets.token_hex(4)}", name="Front")
    db.add(row)
    db.commit()
    return row


# ------------------------------------------------------------------ API and page (no broker)


def test_api_queues_valid_commands_and_refuses_bad_ones(client, db, device, make_user, make_token):
    headers = admin_headers(make_user, make_token)
    url = f"/api/v1/devices/{device.device_id}/commands"
    response = client.post(
        url, json={"name": "set_telemetry_interval", "args": {"seconds": 5}}, headers=headers
    )
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["status"] == "pending" and body["args"] == {"seconds": 5.0}
    row = command_row(db, body["command_id"])
    assert row.device_id == device.id and row.expires_at > datetime.now(timezone.utc)
    assert db.scalars(select(AuditLog).where(AuditLog.action == "device.command")).first() is not None

    for bad, fragment in (
        ({"name": "self_destruct"}, "not a command"),
        ({"name": "set_thumbnails", "args": {"enabled": "yes"}}, "true or false"),
        ({"name": "set_thumbnails"}, "'enabled' is missing"),
        ({"name": "set_crops", "args": {"mode": "students"}}, "must be one of unknown, all, off"),
        ({"name": "set_telemetry_interval", "args": {"seconds": 0}}, "from 1 to 3600"),
        ({"name": "resync_gallery", "args": {"force": True}}, "unknown argument"),
        ({"name": 3}, "command name"),
        ({"name": "resync_gallery", "args": [1]}, "args must be an object"),
    ):
        refused = client.post(url, json=bad, headers=headers)
        assert refused.status_code == 400, bad
        assert fragment in refused.get_json()["error"], (bad, refused.get_json())
    listed = client.get(url, headers=headers).get_json()["commands"]
    assert [c["command_id"] for c in listed] == [body["command_id"]]  # nothing of the refused was kept

    assert (
        client.post(
            "/api/v1/devices/nope/commands", json={"name": "resync_gallery"}, headers=headers
        ).status_code
        == 404
    )
    instructor = {"Authorization": f"Bearer {make_token(make_user(role='instructor'))}"}
    assert client.post(url, json={"name": "resync_gallery"}, headers=instructor).status_code == 403
    assert client.post(url, json={"name": "resync_gallery"}).status_code in (400, 401)  # CSRF or login
    assert len(client.get(url, headers=headers).get_json()["commands"]) == 1


def test_device_page_buttons_queue_commands_with_csrf(client, db, device, make_user, login):
    make_user(role="admin", email="root@example.org")
    login(client, "root@example.org", PASSWORD)
    page = client.get(f"/devices/{device.device_id}").get_data(as_text=True)
    assert "No commands sent yet." in page and 'id="cmd-resync_gallery"' in page
    assert "Face crops sent: <strong>not reported yet" in page  # no telemetry yet
    token = CSRF_FIELD.search(page).group(1)
    url = f"/devices/{device.device_id}/commands"

    assert client.post(url, data={"name": "resync_gallery"}).status_code == 400  # no CSRF token
    done = client.post(url, data={"csrf_token": token, "name": "set_crops", "mode": "all"})
    assert done.status_code == 303
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "set_crops queued" in page and "pending" in page
    db.rollback()
    rows = db.scalars(select(DeviceCommand).where(DeviceCommand.device_id == device.id)).all()
    assert [(r.name, r.args) for r in rows] == [("set_crops", {"mode": "all"})]
    bad = client.post(url, data={"csrf_token": token, "name": "set_crops", "mode": "everyone"})
    assert bad.status_code == 400 and "must be one of unknown, all, off" in bad.get_data(as_text=True)

    bad = client.post(url, data={"csrf_token": token, "name": "set_telemetry_interval", "seconds": "soon"})
    assert bad.status_code == 400 and "is not a number" in bad.get_data(as_text=True)
    bad = client.post(url, data={"csrf_token": token, "name": "set_telemetry_interval", "seconds": "99999"})
    assert bad.status_code == 400 and "from 1 to 3600" in bad.get_data(as_text=True)
    db.rollback()
    assert len(db.scalars(select(DeviceCommand).where(DeviceCommand.device_id == device.id)).all()) == 1


# ------------------------------------------------------------------ through Mosquitto to a real agent


def forget_device_session(client_id: str) -> None:
    """Drop an MQTT v5 persistent session (clean start, expiry 0) so the broker does not keep it."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0
    client.connect(*BROKER, clean_start=True, properties=props)
    client.loop_start()
    client.disconnect()
    client.loop_stop()


@pytest.fixture
def agent(device, analyzer, tmp_path) -> Iterator[EdgeAgent]:
    """The real edge agent's MQTT side (no camera loop: commands arrive on the MQTT thread)."""
    require_broker()
    config = EdgeConfig(
        device_id=device.device_id,
        outbox_path=str(tmp_path / "outbox.sqlite"),
        gallery_path=str(tmp_path / "gallery.json"),
        broker=MqttSettings(host=BROKER[0], port=BROKER[1], telemetry_interval_s=3600),
    )
    edge = EdgeAgent(config, analyzer=analyzer)
    edge.publisher.start()
    assert edge.publisher.wait_connected(WAIT)
    yield edge
    edge.publisher.stop()
    edge.outbox.close()
    forget_device_session(edge.publisher.client_id)


def test_commands_reach_the_agent_and_its_answers_come_back(
    client, db, device, agent, start_ingest, make_user, make_token
):
    start_ingest()
    headers = admin_headers(make_user, make_token)
    url = f"/api/v1/devices/{device.device_id}/commands"

    def send(name: str, args: dict | None = None) -> str:
        response = client.post(url, json={"name": name, "args": args or {}}, headers=headers)
        assert response.status_code == 202, response.get_json()
        return response.get_json()["command_id"]

    def answered(command_id: str) -> DeviceCommand:
        wait_for(lambda: command_row(db, command_id).status in ("done", "refused"), WAIT)
        return command_row(db, command_id)

    interval = answered(send("set_telemetry_interval", {"seconds": 2}))
    assert (interval.status, interval.detail) == ("done", "telemetry every 2 s")
    assert interval.sent_at is not None and interval.answered_at is not None
    assert agent.publisher.settings.telemetry_interval_s == 2.0

    assert agent.config.crops == "unknown"  # the default: unknown faces' crops only
    thumbs = answered(send("set_thumbnails", {"enabled": True}))
    assert thumbs.status == "done" and agent.config.crops == "all"
    crops = answered(send("set_crops", {"mode": "off"}))
    assert (crops.status, crops.detail, agent.config.crops) == ("done", "crops off", "off")

    def crops_shown() -> str | None:  # what the devices page and API show: the device's telemetry
        devices = client.get("/api/v1/devices/status", headers=headers).get_json()["devices"]
        return next(d["crops"] for d in devices if d["device_id"] == device.device_id)

    wait_for(lambda: crops_shown() == "off", WAIT)

    resync = answered(send("resync_gallery"))
    assert resync.status == "done" and "subscribed again" in resync.detail

    restart = answered(send("restart_capture"))  # no live source is open on this agent
    assert restart.status == "refused" and "not a camera or stream" in restart.detail

    # A command the device does not know (a newer server, a forged row): refused with the reason,
    # and the agent goes on executing the next one.
    db.add(
        DeviceCommand(
            command_id=secrets.token_hex(8),
            device_id=device.id,
            name="self_destruct",
            args={},
            status="pending",
            expires_at=datetime.now(timezone.utc) + timedelta(minutes=5),
        )
    )
    db.commit()
    unknown = db.scalars(select(DeviceCommand).where(DeviceCommand.name == "self_destruct")).one()
    refused = answered(unknown.command_id)
    assert refused.status == "refused" and refused.detail.startswith("unknown_command")
    again = answered(send("set_thumbnails", {"enabled": False}))
    assert again.status == "done" and agent.config.crops == "unknown"
    assert agent.publisher.connected


def test_an_expired_command_is_never_sent(db, device, start_ingest):
    db.add(
        DeviceCommand(
            command_id=secrets.token_hex(8),
            device_id=device.id,
            name="restart_capture",
            args={},
            status="pending",
            expires_at=datetime.now(timezone.utc) - timedelta(seconds=1),
        )
    )
    db.commit()
    start_ingest()
    row = db.scalars(select(DeviceCommand).where(DeviceCommand.device_id == device.id)).one()
    wait_for(lambda: command_row(db, row.command_id).status != "pending", WAIT)
    row = command_row(db, row.command_id)
    assert row.status == "expired" and row.sent_at is None


# ------------------------------------------------------------------ gallery follows the roster at once


def test_roster_change_republishes_the_gallery_within_seconds(
    app, client, db, start_ingest, make_user, make_token
):
    require_broker()
    now = datetime.now(timezone.utc)
    room = Classroom(name=f"R-{secrets.token_hex(3)}")
    cam = Device(device_id=f"cam-{secrets.token_hex(4)}", name="Front", classroom=room)
    enrolled = Student(student_number=secrets.token_hex(4).upper(), name="Kim")
    newcomer = Student(student_number=secrets.token_hex(4).upper(), name="Lee")
    course = Course(code=secrets.token_hex(4), title="Intro", students=[enrolled])
    lecture = LectureSession(
        course=course, classroom=room, starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1)
    )
    rng = np.random.default_rng(3)
    faces = [
        FaceTemplate(
            student=s,
            kind=FaceKind.PHOTO,
            embedding=to_bytes(rng.normal(size=128).astype(np.float32)),
            dim=128,
            model=DEFAULT_MODEL,
        )
        for s in (enrolled, newcomer)
    ]
    db.add_all([room, cam, enrolled, newcomer, course, lecture, *faces])
    db.commit()

    galleries: queue.Queue[Gallery] = queue.Queue()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{secrets.token_hex(4)}")
    sub.on_message = lambda c, u, m: m.payload and galleries.put(Gallery.decode(m.payload, cam.device_id))
    sub.on_connect = lambda c, u, f, rc, p: c.subscribe(topic(cam.device_id, "gallery"), qos=1)
    sub.connect(*BROKER)
    sub.loop_start()
    try:
        worker = start_ingest()
        assert worker.gallery_interval >= 60  # only the change can explain a second publish in time
        first = galleries.get(timeout=WAIT)
        assert [s.student_id for s in first.students] == [enrolled.id]
        time.sleep(worker.poll_interval * 3)  # the worker has seen the watermark before the change

        headers = admin_headers(make_user, make_token)
        added = client.post(
            f"/api/v1/courses/{course.id}/roster",
            json={"student_numbers": [newcomer.student_number]},
            headers=headers,
        )
        assert added.status_code == 200, added.get_json()
        second = galleries.get(timeout=WAIT)  # WAIT < the 60 s timer: the change triggered it
    finally:
        sub.disconnect()
        sub.loop_stop()
    assert sorted(s.student_id for s in second.students) == sorted([enrolled.id, newcomer.id])
    assert second.version == first.version + 1
