"""`visage demo` as a newcomer runs it: one command, then HTTP and MQTT from outside, then Ctrl-C.

The command runs as a subprocess in its own process group on free ports with a temporary instance
folder (`shared_demo`, tests/demo_support.py: one run shared with tests/test_readme_examples.py and
tests/test_demo_restart.py); the test signs in like a browser (CSRF form), reads the demo lecture's
attendance and the devices page's API, subscribes to the embedded broker (retained `online` status,
telemetry); album search by a key photo and the deepfake samples' scores are checked too. Ctrl-C
(SIGINT to the whole group, as a terminal sends it: exit code 0, no process of the group left) is
checked by `DemoRun.stop`, when the restart test stops this run, or at the session's end.
"""

from __future__ import annotations

import json
import time

import paho.mqtt.client as mqtt

from shared.messages import Status, Telemetry, topic
from tests.conftest import data_path
from tests.demo_support import DemoRun, csrf, poll, sign_in

DEVICE = "demo-cam-101"
STATUSES = {"present", "late", "left_early", "late_and_left_early", "absent", "excused"}


def watch_device(port: int) -> tuple[mqtt.Client, dict[str, list[bytes]]]:
    seen: dict[str, list[bytes]] = {"status": [], "telemetry": []}
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id="test-demo-watch", protocol=mqtt.MQTTv311
    )

    def on_message(_client, _userdata, message) -> None:
        kind = message.topic.rsplit("/", 1)[-1]
        seen.setdefault(kind, []).append(bytes(message.payload))

    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe(
        [(topic(DEVICE, "status"), 1), (topic(DEVICE, "telemetry"), 0)]
    )
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client, seen


def check_album_search(base: str, password: str) -> None:
    """The sample photos get indexed; a key photo of a person (not itself in the album,
    where photos 1-6 are) finds theirs."""
    album = sign_in(base, "album@school.example", password)

    def indexed():
        photos = album.get(base + "api/v1/album/photos?per_page=100", timeout=30).json()["photos"]
        assert photos, "the demo album is empty"
        return photos if all(p["status"] in ("indexed", "failed") for p in photos) else None

    photos = poll(indexed, 150)
    assert photos, "the demo album was not indexed within 150 s"
    assert sum(p["status"] == "indexed" for p in photos) >= len(photos) - 1
    key = data_path("lfw_subset_10x10", "Colin_Powell", "Colin_Powell_0008.jpg")  # one face; 0010 has three
    answer = album.post(
        base + "api/v1/album/searches",
        files={"key": (key.name, key.read_bytes(), "image/jpeg")},
        headers={"X-CSRFToken": csrf(album, base)},
        timeout=60,
    )
    assert answer.status_code == 201, answer.text
    found = {match["photo"]["filename"] for match in answer.json()["results"]}
    assert found, "the search by a key photo found nothing"
    assert all(name.startswith("Colin_Powell_") for name in found), found
    assert len(found) >= 4  # six photos of him in the album


def check_deepfake(base: str, password: str) -> None:
    """The queued samples are listed, and each gets a probability from the committed classifier."""
    user = sign_in(base, "album@school.example", password)
    checks = user.get(base + "api/v1/deepfake/checks", timeout=30).json()["checks"]
    assert checks, "no deepfake sample was queued"

    def finished():
        rows = user.get(base + "api/v1/deepfake/checks", timeout=30).json()["checks"]
        return rows if all(r["status"] in ("done", "failed") for r in rows) else None

    rows = poll(finished, 150)
    assert rows, "the deepfake samples were not checked within 150 s"
    for row in rows:
        assert row["status"] == "done", row
        assert 0.0 <= row["probability"] <= 1.0


def test_demo_runs_the_whole_system(shared_demo: DemoRun):
    demo, base, text = shared_demo.demo, shared_demo.base, shared_demo.text
    session_id, broker, logins = shared_demo.session_id, shared_demo.broker, shared_demo.logins

    def mark(what: str) -> None:  # where the minutes go (shown with -s or on failure)
        print(f"{time.monotonic() - shared_demo.started:6.1f} s  {what}")

    mark("ready")
    assert {"instructor@school.example", "admin@school.example"} <= set(logins)
    assert f"127.0.0.1:{broker}" in text  # the embedded broker took the port it was given

    # MQTT: the device's retained status says online; telemetry arrives every few seconds.
    client, seen = watch_device(broker)
    try:
        assert poll(lambda: seen["status"], 30, 0.5), "no retained status on the embedded broker"
        assert Status.decode(seen["status"][0], DEVICE).state == "online"
        assert poll(lambda: seen["telemetry"], 30, 0.5), "no telemetry from the demo device"
        telemetry = Telemetry.decode(seen["telemetry"][-1], DEVICE)
        assert telemetry.device_id == DEVICE
    finally:
        client.loop_stop()
        client.disconnect()

    mark("MQTT status and telemetry")

    # HTTP: the instructor sees sightings and statuses in the demo lecture.
    instructor = sign_in(base, "instructor@school.example", logins["instructor@school.example"])

    def attendance():
        answer = instructor.get(f"{base}api/v1/sessions/{session_id}/attendance", timeout=30)
        assert answer.status_code == 200, answer.text
        data = answer.json()
        return data if any(s["evidence"]["sightings"] > 0 for s in data["students"]) else None

    report = poll(attendance, 150)
    assert report, "no student was recognised in the demo lecture"
    assert report["session"]["course"]["code"] == "DEMO101"
    # Statuses settle when the whole simulated lecture has played; every student has one now.
    assert all(s["status"] in STATUSES for s in report["students"]), report["counts"]
    recognised = [s for s in report["students"] if s["evidence"]["sightings"] > 0]
    assert all(s["evidence"]["best_score"] is not None for s in recognised)

    # HTTP: the administrator's devices page data shows the camera online with telemetry.
    admin = sign_in(base, "admin@school.example", logins["admin@school.example"])
    devices = admin.get(base + "api/v1/devices/status", timeout=30).json()["devices"]
    camera = next(d for d in devices if d["device_id"] == DEVICE)
    assert camera["online"] is True, json.dumps(camera)
    assert camera["telemetry_at"] is not None and camera["fps"] is not None, json.dumps(camera)
    assert camera["gallery_version"] is not None  # the device runs with the course's gallery
    assert instructor.get(base + "devices", timeout=30).status_code in (302, 403, 404)  # admins only

    mark("attendance and devices")
    # The optional parts, when installed in this tree (the demo then must have seeded them).
    assert "Album:" in text, "the demo seeded no sample album"
    check_album_search(base, logins["album@school.example"])
    mark("album search")
    assert "Deepfake:" in text, "the demo queued no deepfake sample"
    check_deepfake(base, logins["album@school.example"])
    mark("deepfake")
    assert demo.process.poll() is None, "the demo stopped by itself:\n" + "\n".join(demo.output[-40:])
