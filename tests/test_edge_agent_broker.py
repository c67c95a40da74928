"""The real processes end to end: `visage edge run` (a subprocess) plays a real video with a gallery it
received from the server, publishes to the real Mosquitto (127.0.0.1:1883), and `visage server ingest`
(another subprocess) stores into a throwaway MariaDB database. Every event id the agent wrote to its
outbox ledger is stored exactly once; status, telemetry and the gallery version arrive too. Only one
of the clip's two people is enrolled: the other is an unknown face whose sightings carry its crop and
embedding (issue 15), while the enrolled one's carry neither (crops of recognised students are off).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import paho.mqtt.client as mqtt

from server.faces.model import DEFAULT_MODEL
from tests.conftest import BROKER, data_path, require_broker
from tests.server.test_server_devices_commands import forget_device_session

REPO = Path(__file__).resolve().parents[1]
CLIP = ("face_recognition_examples", "examples", "short_hamilton_clip.mp4")
PEOPLE = {"lin-manuel-miranda.png": "LMM", "alex-lacamoire.png": "ALA"}
ENROLLED = ("lin-manuel-miranda.png",)  # Alex Lacamoire stays a stranger
WAIT = 60.0
FRAMES = 60  # two seconds of the clip: both faces tracked and decided, a bounded run time


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "visage.cli", *args]


def clean_broker(device: str, client_ids: list[str]) -> None:
    """Forget the test's persistent sessions and retained messages on the shared broker."""
    for client_id in client_ids:
        forget_device_session(client_id)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"clean-{secrets.token_hex(4)}")
    client.connect(*BROKER)
    client.loop_start()
    for kind in ("status", "gallery"):
        client.publish(f"visage/v1/devices/{device}/{kind}", b"", qos=1, retain=True).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def seed(app, analyzer, device: str, enrolled: tuple[str, ...] = tuple(PEOPLE)) -> dict[str, int]:
    """A room with the device, a lecture now, and students enrolled from their photos."""
    from server.db import get_db
    from server.db.enums import FaceKind
    from server.db.models import Classroom, Course, Device, FaceTemplate, LectureSession, Student
    from server.faces.embeddings import to_bytes

    now = datetime.now(timezone.utc)
    with get_db(app).session() as session:
        room = Classroom(name="Studio")
        students = []
        for photo, number in ((p, PEOPLE[p]) for p in enrolled):
            image = cv2.cvtColor(cv2.imread(str(data_path(*CLIP[:2], photo))), cv2.COLOR_BGR2RGB)
            (face,) = analyzer.get(image, max_faces=1)
            student = Student(student_number=number, name=photo.split(".")[0])
            students.append(student)
            session.add(
                FaceTemplate(
                    student=student,
                    kind=FaceKind.PHOTO,
                    embedding=to_bytes(face.embedding),
                    dim=len(face.embedding),
                    model=DEFAULT_MODEL,
                )
            )
        course = Course(code="HAM101", title="Hamilton", students=students)
        session.add_all(
            [
                room,
                Device(device_id=device, name="Stage", classroom=room),
                course,
                LectureSession(
                    course=course,
                    classroom=room,
                    starts_at=now - timedelta(hours=1),
                    ends_at=now + timedelta(hours=1),
                ),
            ]
        )
        session.commit()
        return {s.student_number: s.id for s in students}


def wait_for(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_edge_run_and_server_ingest_processes_deliver_every_outbox_id_once(
    tmp_path, mariadb_url, analyzer, registry
):
    require_broker()
    video = data_path(*CLIP)
    device = f"stage-{secrets.token_hex(3)}"
    worker = f"agent-test-{secrets.token_hex(3)}"
    env = {
        **os.environ,
        "DATABASE_URL": mariadb_url,
        "VISAGE_INSTANCE_PATH": str(tmp_path / "instance"),
        "VISAGE_INGEST_POLL_SECONDS": "0.2",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("VISAGE_CONFIG", None)
    subprocess.run(cli("server", "init-db"), cwd=REPO, env=env, check=True, capture_output=True)

    from sqlalchemy import select

    from server.app import create_app
    from server.db import get_db
    from server.db.models import DeviceHealth, DeviceTelemetry, Sighting

    app = create_app({"DATABASE_URL": mariadb_url})
    ids = seed(app, analyzer, device, ENROLLED)

    config = tmp_path / "edge.json"
    config.write_text(
        json.dumps(
            {
                "device_id": device,
                "source": str(video),
                "outbox_path": str(tmp_path / "outbox.sqlite"),
                "gallery_path": str(tmp_path / "gallery.json"),
                "ledger": True,
                "manifest_path": str(REPO / "models" / "manifest.json"),
                "recognizer": {"repeat_s": 1.0},
                "broker": {"host": BROKER[0], "port": BROKER[1], "telemetry_interval_s": 1.0},
            }
        )
    )
    ingest_log = (tmp_path / "ingest.log").open("wb")
    ingest = subprocess.Popen(
        cli("server", "ingest", "--worker-id", worker, "--share-group", f"test-{worker}"),
        cwd=REPO,
        env=env,
        stdout=ingest_log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: b"subscribed" in (tmp_path / "ingest.log").read_bytes(), WAIT, "ingest to subscribe")
        edge = subprocess.run(
            cli("edge", "run", "--config", str(config), "--max-frames", str(FRAMES)),
            cwd=REPO,
            env=env,
            capture_output=True,
            timeout=300,
        )
        assert edge.returncode == 0, edge.stderr.decode()[-3000:]
        summary = json.loads(edge.stdout.decode().strip().splitlines()[-1])
        assert summary["frames"] == FRAMES and summary["events"] > 0

        from edge.outbox import Outbox

        outbox = Outbox(tmp_path / "outbox.sqlite", ledger=True)
        ledger = outbox.ledger_ids()
        left = outbox.depth()
        outbox.close()
        assert len(ledger) == summary["events"]
        assert left == 0  # a file that ended: the agent delivered its outbox before exiting

        database = get_db(app)

        def stored() -> list[tuple[str, int | None]]:
            with database.session() as session:
                return [tuple(row) for row in session.execute(select(Sighting.event_id, Sighting.student_id))]

        wait_for(lambda: {e for e, _ in stored()} >= ledger, WAIT, "every ledger id in the database")
        rows = stored()
        assert sorted(e for e, _ in rows) == sorted(ledger)  # each once, nothing else
        assert {s for _, s in rows if s is not None} <= set(ids.values())
        assert any(s is not None for _, s in rows), "no sighting recognised an enrolled student"
        with database.session() as session:
            faces = session.execute(
                select(Sighting.student_id, Sighting.thumbnail, Sighting.embedding, Sighting.embedding_model)
            ).all()
        unknown = [f for f in faces if f.student_id is None]
        assert unknown, "the stranger was not reported as an unknown face"
        for face in unknown:  # every unknown sighting shows the face and carries its embedding
            assert face.thumbnail.startswith(b"\xff\xd8") and face.embedding_model == DEFAULT_MODEL
            assert np.isfinite(np.frombuffer(face.embedding, "<f4")).all() and len(face.embedding) == 128 * 4
        assert all(f.thumbnail is None and f.embedding is None for f in faces if f.student_id is not None)

        with database.session() as session:
            health = session.scalars(select(DeviceHealth)).one()
            telemetry = session.scalars(select(DeviceTelemetry)).all()
        assert health.software.startswith("visage-edge") and health.status in ("online", "offline")
        assert health.published_gallery_version is not None
        assert telemetry and any(t.gallery_version == health.published_gallery_version for t in telemetry)
        assert any(t.fps > 0 for t in telemetry)
    finally:
        ingest.send_signal(signal.SIGTERM)
        try:
            ingest.wait(30)
        except subprocess.TimeoutExpired:
            ingest.kill()
            ingest.wait(10)
        ingest_log.close()
        clean_broker(device, [f"visage-ingest-{worker}", f"visage-edge-{device}"])
    assert ingest.returncode == 0, (tmp_path / "ingest.log").read_text()[-3000:]
