"""The server side of model delivery (both databases): device tokens (CLI and admin API), the device
endpoints /api/v1/device/models/{manifest,files/<name>} with every refusal, and the retained `models`
announcement the ingest side publishes through the real Mosquitto (127.0.0.1:1883)."""

from __future__ import annotations

import hashlib
import queue
import secrets
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import select

from server.db.models import AuditLog, Device, DeviceHealth
from server.devices.tokens import find_device, issue_device_token
from server.ingest import IngestWorker
from server.ingest.models_publisher import publish_models
from server.settings import update_settings
from shared.bundle import build_manifest, encode_manifest, manifest_sha256, parse_manifest
from shared.messages import ModelsAnnouncement, topic
from tests.bundle_support import fake_models, rewrite_model
from tests.conftest import BROKER, require_broker, wait_until
from tests.server.test_server_ingest_mqtt import forget_session
from visage.cli import main

MANIFEST = "/api/v1/device/models/manifest"
FILES = "/api/v1/device/models/files/"


@pytest.fixture
def models_dir(app, tmp_path) -> Path:
    folder = fake_models(tmp_path / "models")
    update_settings(app, MODELS_DIR=str(folder))
    return folder


@pytest.fixture
def device(db) -> Device:
    row = Device(device_id=f"cam-{secrets.token_hex(4)}", name="Front")
    db.add(row)
    db.commit()
    return row


@pytest.fixture
def device_token(db, device) -> str:
    token = issue_device_token(db, device)
    db.commit()
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ------------------------------------------------------------------ the device endpoints


def test_a_device_gets_the_manifest_and_every_file(client, models_dir, device_token):
    response = client.get(MANIFEST, headers=bearer(device_token))
    assert response.status_code == 200 and response.mimetype == "application/json"
    raw = response.get_data()
    manifest = parse_manifest(raw)
    assert raw == encode_manifest(build_manifest(models_dir, "sface"))  # canonical bytes
    assert response.headers["ETag"] == f'"{manifest_sha256(raw)}"'
    assert response.headers["X-Visage-Bundle"] == manifest["version"]
    assert manifest["embedder"] == "sface@2021dec" and manifest["exporter"] == 1
    again = client.get(MANIFEST, headers={**bearer(device_token), "If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304

    for entry in manifest["files"]:
        got = client.get(FILES + entry["name"], headers=bearer(device_token))
        assert got.status_code == 200 and got.mimetype == "application/octet-stream"
        data = got.get_data()
        assert len(data) == entry["bytes"] and hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert got.headers["ETag"] == f'"{entry["sha256"]}"'
        got.close()
    cached = client.get(
        FILES + "sface.onnx", headers={**bearer(device_token), "If-None-Match": f'"{entry["sha256"]}"'}
    )
    assert cached.status_code in (200, 304)
    partial = client.get(FILES + "sface.onnx", headers={**bearer(device_token), "Range": "bytes=0-9"})
    assert partial.status_code == 206 and partial.get_data() == (models_dir / "sface.onnx").read_bytes()[:10]
    partial.close()

    for name in ("manifest.json", "nope.onnx", "..%2Fmanifest.json", "deepfake_sbi.onnx"):
        missing = client.get(FILES + name, headers=bearer(device_token))
        assert missing.status_code == 404 and "error" in missing.get_json(), name


def test_a_changed_export_is_a_new_bundle_and_a_broken_one_is_not_offered(client, models_dir, device_token):
    first = parse_manifest(client.get(MANIFEST, headers=bearer(device_token)).get_data())
    rewrite_model(models_dir, "mtcnn_onet", b"re-exported onet")
    second = parse_manifest(client.get(MANIFEST, headers=bearer(device_token)).get_data())
    assert second["version"] != first["version"]
    assert (
        client.get(FILES + "mtcnn_onet.onnx", headers=bearer(device_token)).get_data() == b"re-exported onet"
    )

    (models_dir / "sface.onnx").write_bytes(b"half-written")  # a file that no longer matches its entry
    broken = client.get(MANIFEST, headers=bearer(device_token))
    assert broken.status_code == 503 and "does not match its manifest" in broken.get_json()["error"]
    (models_dir / "manifest.json").unlink()
    gone = client.get(MANIFEST, headers=bearer(device_token))
    assert gone.status_code == 503 and "visage models export" in gone.get_json()["error"]


def test_only_a_known_devices_token_is_accepted(
    client, db, models_dir, device, device_token, make_user, make_token, login
):
    def status(headers: dict[str, str], url: str = MANIFEST) -> tuple[int, str]:
        response = client.get(url, headers=headers)
        return response.status_code, response.get_json()["error"]

    code, message = status({})
    assert code == 401 and "device authentication required" in message
    code, message = status(bearer("vsd_" + "x" * 43))
    assert code == 401 and "unknown or replaced device token" in message
    admin = make_user(role="admin", email="root@example.org")
    code, message = status(bearer(make_token(admin)))  # a valid user token is no device credential
    assert code == 403 and "not a user's API token" in message
    code, _ = status(bearer("vsg_" + "x" * 43))
    assert code == 401  # an invalid user token is refused before anything else
    assert client.get(FILES + "sface.onnx", headers=bearer(make_token(admin))).status_code == 403

    # A device token signs in no user: user endpoints treat it as anonymous.
    assert client.get("/api/v1/me", headers=bearer(device_token)).status_code == 401
    assert client.get("/api/v1/devices", headers=bearer(device_token)).status_code == 401
    # A signed-in administrator's browser session is not a device either.
    from tests.server.conftest import PASSWORD

    login(client, "root@example.org", PASSWORD)
    assert client.get(MANIFEST).status_code == 401
    client.post("/logout")

    # Only the digest is stored; rotating replaces the token at once.
    db.refresh(device)
    assert device.token_sha256 == hashlib.sha256(device_token.encode()).hexdigest()
    assert device_token not in str(device.__dict__) and device.token_prefix == device_token[:12]
    rotated = issue_device_token(db, device)
    db.commit()
    assert status(bearer(device_token))[0] == 401
    assert client.get(MANIFEST, headers=bearer(rotated)).status_code == 200
    assert find_device(db, rotated).id == device.id


def test_admin_api_issues_rotates_and_revokes_tokens(client, db, models_dir, device, make_user, make_token):
    admin = bearer(make_token(make_user(role="admin")))
    url = f"/api/v1/devices/{device.device_id}/token"
    issued = client.post(url, headers=admin)
    assert issued.status_code == 201
    body = issued.get_json()
    assert body["device_id"] == device.device_id and body["token"].startswith("vsd_")
    assert body["prefix"] == body["token"][:12] and body["issued_at"].endswith("Z")
    assert client.get(MANIFEST, headers=bearer(body["token"])).status_code == 200
    second = client.post(url, headers=admin).get_json()["token"]
    assert client.get(MANIFEST, headers=bearer(body["token"])).status_code == 401
    assert client.get(MANIFEST, headers=bearer(second)).status_code == 200

    instructor = bearer(make_token(make_user(role="instructor")))
    assert client.post(url, headers=instructor).status_code == 403
    assert client.post("/api/v1/devices/nope/token", headers=admin).status_code == 404
    assert client.delete(url, headers=admin).status_code == 204
    assert client.get(MANIFEST, headers=bearer(second)).status_code == 401
    db.rollback()
    actions = [a.action for a in db.scalars(select(AuditLog).where(AuditLog.entity_id == str(device.id)))]
    assert actions.count("device.token") == 2 and actions.count("device.token_revoked") == 1
    assert all(second not in str(a.after) for a in db.scalars(select(AuditLog)))


def test_cli_prints_the_token_once(app, client, db, models_dir, device, server_env, capsys):
    code = main(["server", "device-token", device.device_id])
    out, err = capsys.readouterr()
    token = out.strip()
    assert code == 0 and token.startswith("vsd_") and len(out.splitlines()) == 1
    assert "shown once" in err and token not in err
    assert client.get(MANIFEST, headers=bearer(token)).status_code == 200
    assert main(["server", "device-token", device.device_id, "--revoke"]) == 0
    assert client.get(MANIFEST, headers=bearer(token)).status_code == 401
    code = main(["server", "device-token", "no-such-device"])
    assert code == 2 and "no device 'no-such-device'" in capsys.readouterr().err


def test_openapi_documents_the_device_endpoints(client):
    document = client.get("/api/v1/openapi.json").get_json()
    manifest = document["paths"]["/device/models/manifest"]["get"]
    assert manifest["security"] == [{"deviceToken": []}]
    assert {"200", "401", "403", "503"} <= set(manifest["responses"])
    files = document["paths"]["/device/models/files/{name}"]["get"]
    assert files["security"] == [{"deviceToken": []}] and "404" in files["responses"]
    assert document["components"]["securitySchemes"]["deviceToken"]["scheme"] == "bearer"
    assert "post" in document["paths"]["/devices/{device_id}/token"]


# ------------------------------------------------------------------ the MQTT announcement


class Listener:
    """A subscriber on the real broker collecting one device's `models` messages."""

    def __init__(self, device_id: str):
        self.messages: queue.Queue[bytes] = queue.Queue()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"listen-{secrets.token_hex(4)}"
        )
        self.client.on_message = lambda _c, _u, message: self.messages.put(bytes(message.payload))
        self.client.connect(*BROKER)
        self.client.loop_start()
        self.client.subscribe(topic(device_id, "models"), qos=1)

    def next(self, timeout: float = 10.0) -> bytes:
        return self.messages.get(timeout=timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher_client(device) -> Iterator[mqtt.Client]:
    require_broker()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{secrets.token_hex(4)}")
    client.connect(*BROKER)
    client.loop_start()
    yield client
    client.publish(topic(device.device_id, "models"), b"", qos=1, retain=True).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def test_the_bundle_is_announced_retained_once_per_change(
    app, client, db, models_dir, device, device_token, publisher_client
):
    served = client.get(MANIFEST, headers=bearer(device_token)).get_data()
    assert publish_models(app, publisher_client) >= 1
    listener = Listener(device.device_id)  # subscribes after the publish: the retained copy arrives
    try:
        announcement = ModelsAnnouncement.decode(listener.next(), device.device_id)
        assert announcement.manifest_sha256 == manifest_sha256(served)
        assert announcement.bundle_version == parse_manifest(served)["version"]
        assert announcement.embedder == "sface@2021dec" and announcement.format == 1
        db.rollback()
        health = db.get(DeviceHealth, device.id)
        assert health.published_models_sha256 == announcement.manifest_sha256

        assert publish_models(app, publisher_client) == 0  # unchanged: not announced again
        with pytest.raises(queue.Empty):
            listener.next(timeout=1.0)

        rewrite_model(models_dir, "mtcnn_rnet", b"rnet v2")
        assert publish_models(app, publisher_client) >= 1
        newer = ModelsAnnouncement.decode(listener.next(), device.device_id)
        assert newer.bundle_version != announcement.bundle_version
        assert newer.manifest_sha256 == manifest_sha256(
            client.get(MANIFEST, headers=bearer(device_token)).get_data()
        )
    finally:
        listener.close()

    (models_dir / "manifest.json").unlink()  # nothing to offer: nothing announced, nothing breaks
    assert publish_models(app, publisher_client) == 0


def test_the_ingest_worker_announces_the_bundle(app, db, models_dir, device, publisher_client):
    worker = IngestWorker(
        app, f"models-{secrets.token_hex(4)}", *BROKER, group=f"test-{secrets.token_hex(4)}"
    )
    worker.start()
    try:
        listener = Listener(device.device_id)
        try:
            announcement = ModelsAnnouncement.decode(listener.next(timeout=20), device.device_id)
        finally:
            listener.close()
        assert announcement.bundle_version == build_manifest(models_dir, "sface")["version"]
        assert wait_until(lambda: worker.stats.get("models", 0) >= 1, 10)
    finally:
        worker.stop(drain=False)
        forget_session(worker.client._client_id.decode())
