"""GET /api/v1/devices/{id}/live (SQLite and MariaDB): the device page's live document. Status and the
newest telemetry as the devices list has them, the latest commands with the device's answers, and
the crop mode the device acknowledged: its telemetry's, unless a crop command was acknowledged later."""

from __future__ import annotations

from datetime import timedelta

import pytest

from server.db import utcnow
from server.db.models import Device, DeviceCommand, DeviceHealth, DeviceTelemetry


@pytest.fixture
def cam(db, make_user, make_token):
    admin = make_user("admin", email="root@school.example")
    now = utcnow().replace(microsecond=0)
    device = Device(device_id="cam-1", name="Front")
    db.add(device)
    db.flush()
    db.add(DeviceHealth(device_id=device.id, status="online", last_seen_at=now))
    for i, fps in enumerate((7.0, 9.5)):
        db.add(
            DeviceTelemetry(
                device_id=device.id,
                at=now - timedelta(minutes=1 - i),
                fps=fps,
                faces_per_second=2.0,
                outbox_depth=1,
                outbox_capacity=10,
                stage_ms={"detect": 80.0 + i},
                crops="unknown",
            )
        )
    db.commit()
    return {"pk": device.id, "now": now, "h": {"Authorization": f"Bearer {make_token(admin)}"}}


def live(client, cam) -> dict:
    response = client.get("/api/v1/devices/cam-1/live", headers=cam["h"])
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def add_command(db, cam, command_id: str, name: str, args: dict, status: str, answered_after_s: float | None):
    answered = None if answered_after_s is None else cam["now"] + timedelta(seconds=answered_after_s)
    db.add(
        DeviceCommand(
            command_id=command_id,
            device_id=cam["pk"],
            name=name,
            args=args,
            status=status,
            answered_at=answered,
            expires_at=cam["now"] + timedelta(minutes=5),
        )
    )
    db.commit()


def test_status_newest_telemetry_and_commands(client, db, cam):
    data = live(client, cam)
    assert data["device"]["online"] is True and data["device"]["device_id"] == "cam-1"
    assert data["telemetry"]["fps"] == 9.5 and data["telemetry"]["stage_ms"] == {"detect": 81.0}
    assert data["device"]["crops"] == "unknown" and data["commands"] == []
    add_command(db, cam, "c-1", "set_crops", {"mode": "all"}, "sent", None)
    data = live(client, cam)
    assert [(c["command_id"], c["status"]) for c in data["commands"]] == [("c-1", "sent")]
    assert data["device"]["crops"] == "unknown"  # sent, not acknowledged


def test_crop_mode_follows_an_acknowledgement_newer_than_telemetry(client, db, cam):
    add_command(db, cam, "c-1", "set_crops", {"mode": "all"}, "done", 5)
    assert live(client, cam)["device"]["crops"] == "all"
    add_command(db, cam, "c-2", "set_thumbnails", {"enabled": False}, "done", 10)
    assert live(client, cam)["device"]["crops"] == "unknown"  # thumbnails off = unknown faces only


def test_an_acknowledgement_older_than_telemetry_or_refused_changes_nothing(client, db, cam):
    add_command(db, cam, "c-1", "set_crops", {"mode": "off"}, "done", -120)  # before the newest report
    add_command(db, cam, "c-2", "set_crops", {"mode": "all"}, "refused", 30)
    assert live(client, cam)["device"]["crops"] == "unknown"


def test_unknown_device_and_roles(client, cam, make_user, make_token):
    assert client.get("/api/v1/devices/nope/live", headers=cam["h"]).status_code == 404
    teacher = make_user("instructor", email="t@school.example")
    headers = {"Authorization": f"Bearer {make_token(teacher)}"}
    assert client.get("/api/v1/devices/cam-1/live", headers=headers).status_code == 403
    assert client.get("/api/v1/devices/cam-1/live").status_code == 401
