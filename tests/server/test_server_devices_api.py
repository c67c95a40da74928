"""Devices page and API (both databases): health and telemetry figures from stored rows, refused
messages, and refusal of instructors and anonymous callers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from server.db.models import Classroom, Device, DeviceHealth, DeviceTelemetry, RejectedMessage
from tests.server.conftest import PASSWORD

NOW = datetime.now(timezone.utc).replace(microsecond=0)
TRT_FIRST = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
# Two models on TensorRT, the embedder fell back to the CPU: what the page must make visible.
NEWEST_PROVIDERS = {"mtcnn_pnet": TRT_FIRST, "mtcnn_rnet": TRT_FIRST, "sface": ["CPUExecutionProvider"]}


@pytest.fixture
def fleet(db) -> dict:
    room = Classroom(name="Hall A")
    up = Device(device_id="cam-up", name="Front", classroom=room)
    down = Device(device_id="cam-down", name="Back")
    db.add_all([room, up, down])
    db.flush()
    db.add_all(
        [
            DeviceHealth(
                device_id=up.id,
                status="online",
                status_at=NOW,
                last_seen_at=NOW,
                gallery_version=7,
                clock_skew_seconds=300.0,
                clock_skew_exceeded=True,
            ),
            DeviceHealth(
                device_id=down.id, status="offline", status_at=NOW, last_seen_at=NOW - timedelta(hours=2)
            ),
        ]
    )
    for minutes, depth, fps in ((10, 100, 12.0), (5, 500, 14.0), (0, 900, 9.5)):
        db.add(
            DeviceTelemetry(
                device_id=up.id,
                at=NOW - timedelta(minutes=minutes),
                fps=fps,
                faces_per_second=3.0,
                outbox_depth=depth,
                outbox_capacity=1000,
                stage_ms={"detect": 21.5, "embed": 8.25},
                cpu_temperature_c=61.0 + minutes,
                gallery_version=7,
                providers=NEWEST_PROVIDERS if minutes == 0 else None,
                models={"sface": "0123456789ab"} if minutes == 0 else None,
                models_bundle="909d1c8c7117a3d0" if minutes == 0 else None,
                capture_error="cannot open the camera rtsp://cam:***@10.0.0.5/s; retrying every 30 s"
                if minutes == 0
                else None,
            )
        )
    db.add(
        RejectedMessage(
            topic="visage/v1/devices/cam-up/sightings",
            device_id="cam-up",
            reason="bad_json",
            detail="sightings: payload is not JSON.",
            received_at=NOW,
            payload_size=3,
            payload_head=b"{{{",
        )
    )
    db.add(
        RejectedMessage(
            topic="visage/v1/devices/ghost/status",
            device_id="ghost",
            reason="unknown_device",
            detail="device 'ghost' is not registered.",
            received_at=NOW,
            payload_size=2,
            payload_head=b"{}",
        )
    )
    db.commit()
    return {"up": up, "down": down}


def bearer(make_user, make_token, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(make_user(role=role))}"}


def test_status_api_reports_health_and_latest_telemetry(client, fleet, make_user, make_token):
    body = client.get("/api/v1/devices/status", headers=bearer(make_user, make_token, "admin")).get_json()
    devices = {d["device_id"]: d for d in body["devices"]}
    up, down = devices["cam-up"], devices["cam-down"]
    assert up["online"] is True and down["online"] is False
    assert up["fps"] == pytest.approx(9.5)  # the newest report
    assert up["stage_ms"] == {"detect": 21.5, "embed": 8.25}
    assert up["backlog"] == {"depth": 900, "capacity": 1000, "ratio": 0.9, "alarm": True}
    assert up["cpu_temperature_c"] == pytest.approx(61.0)
    assert up["gallery_version"] == 7 and up["clock_skew_exceeded"] is True
    assert up["classroom"] == "Hall A"
    assert datetime.fromisoformat(down["last_seen_at"]) == NOW - timedelta(hours=2)
    assert down["fps"] is None and down["backlog"] is None
    assert up["providers"] == NEWEST_PROVIDERS and up["models"] == {"sface": "0123456789ab"}
    assert up["runs_on"] == [
        {"provider": "CPU", "models": ["sface"]},
        {"provider": "Tensorrt", "models": ["mtcnn_pnet", "mtcnn_rnet"]},
    ]
    assert down["runs_on"] == []
    assert up["models_bundle"] == "909d1c8c7117a3d0"
    assert up["problems"] == ["cannot open the camera rtsp://cam:***@10.0.0.5/s; retrying every 30 s"]
    assert down["problems"] == []


def test_telemetry_history_since_and_errors(client, fleet, make_user, make_token):
    headers = bearer(make_user, make_token, "admin")
    rows = client.get("/api/v1/devices/cam-up/telemetry", headers=headers).get_json()["telemetry"]
    assert [r["outbox_depth"] for r in rows] == [100, 500, 900]
    since = (NOW - timedelta(minutes=6)).isoformat().replace("+00:00", "Z")
    rows = client.get(f"/api/v1/devices/cam-up/telemetry?since={since}", headers=headers).get_json()[
        "telemetry"
    ]
    assert [r["fps"] for r in rows] == [14.0, 9.5]
    missing = client.get("/api/v1/devices/nope/telemetry", headers=headers)
    assert missing.status_code == 404 and "error" in missing.get_json()
    bad = client.get("/api/v1/devices/cam-up/telemetry?since=yesterday", headers=headers)
    assert bad.status_code == 400 and "error" in bad.get_json()


def test_rejected_messages_filtered_by_device(client, fleet, make_user, make_token):
    headers = bearer(make_user, make_token, "admin")
    every = client.get("/api/v1/rejected-messages", headers=headers).get_json()["rejected"]
    assert {r["reason"] for r in every} == {"bad_json", "unknown_device"}
    one = client.get("/api/v1/rejected-messages?device=cam-up&limit=10", headers=headers).get_json()[
        "rejected"
    ]
    assert [(r["reason"], r["detail"]) for r in one] == [("bad_json", "sightings: payload is not JSON.")]
    assert client.get("/api/v1/rejected-messages?limit=0", headers=headers).status_code == 400


@pytest.mark.parametrize(
    "path", ["/api/v1/devices/status", "/api/v1/devices/cam-up/telemetry", "/api/v1/rejected-messages"]
)
def test_api_refuses_instructors_and_anonymous(client, fleet, make_user, make_token, path):
    assert client.get(path, headers=bearer(make_user, make_token, "instructor")).status_code == 403
    assert client.get(path).status_code == 401


def test_pages_show_status_alarms_charts_and_rejects(client, fleet, make_user, login):
    make_user(role="admin", email="root@example.org")
    login(client, "root@example.org", PASSWORD)
    page = client.get("/devices").get_data(as_text=True)
    assert "cam-up" in page and "cam-down" in page
    assert "online" in page and "offline" in page
    assert "900/1000" in page and "backlog over 80 %" in page and "clock skew" in page
    assert "detect 21.5" in page
    assert "CPU (1)" in page and "Tensorrt (2)" in page
    assert "cannot open the camera rtsp://cam:***@10.0.0.5/s" in page
    detail = client.get("/devices/cam-up")
    html = detail.get_data(as_text=True)
    assert detail.status_code == 200
    assert html.count("<polyline") == 3
    assert "TensorrtExecutionProvider, CUDAExecutionProvider, CPUExecutionProvider" in html
    assert "0123456789ab" in html and "909d1c8c7117a3d0" in html
    assert "cannot open the camera" in html
    assert "bad_json" in html and "payload is not JSON" in html and "unknown_device" not in html
    assert client.get("/devices/nope").status_code == 404


def test_pages_refuse_instructors_and_anonymous(client, fleet, make_user, login):
    anonymous = client.get("/devices")
    assert anonymous.status_code in (302, 401) and "cam-up" not in anonymous.get_data(as_text=True)
    make_user(role="instructor", email="ada@example.org")
    login(client, "ada@example.org", PASSWORD)
    for path in ("/devices", "/devices/cam-up"):
        assert client.get(path).status_code == 403
