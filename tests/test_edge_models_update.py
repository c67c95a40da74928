"""A model bundle announced over MQTT reaches a running agent: the real Mosquitto (127.0.0.1:1883)
delivers the retained `models` announcement to the agent's DevicePublisher, the agent fetches and
verifies the bundle in the background (from tests.bundle_support.BundleServer) and swaps it in at the
next frame. A new embedder drops the gallery of the old one; a bundle that fails to download or to
load leaves the previous set running and says why in the log and in telemetry. Device profile.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.agent import EdgeAgent, RunStats
from edge.config import load_config
from shared.bundle import active_dir, installed_version, manifest_sha256
from shared.media import read_image
from shared.messages import Gallery, GalleryStudent, ModelsAnnouncement, gallery_digest, topic
from tests.bundle_support import TOKEN, BundleServer, real_models, rewrite_model
from tests.conftest import BROKER, data_path, require_broker, wait_until

pytestmark = pytest.mark.device_profile

WAIT = 60.0
MODELS = ["mtcnn_pnet", "mtcnn_rnet", "mtcnn_onet", "sface", "dlib_resnet"]


def broker_client() -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-{secrets.token_hex(4)}")
    client.connect(*BROKER)
    client.loop_start()
    return client


def announce(device: str, server: BundleServer) -> None:
    """What the server's publisher sends: retained, QoS 1."""
    message = ModelsAnnouncement(
        device, server.manifest["version"], manifest_sha256(server.raw), server.manifest["embedder"]
    )
    client = broker_client()
    client.publish(topic(device, "models"), message.encode(), qos=1, retain=True).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def forget(device: str) -> None:
    """Clear the retained announcement and the agent's persistent session on the shared broker."""
    client = broker_client()
    for kind in ("models", "status"):
        client.publish(topic(device, kind), b"", qos=1, retain=True).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()
    session = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"visage-edge-{device}", protocol=mqtt.MQTTv5
    )
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0
    session.connect(*BROKER, clean_start=True, properties=props)
    session.loop_start()
    session.disconnect()
    session.loop_stop()


def dlib_gallery(device: str) -> Gallery:
    vectors = np.random.default_rng(0).normal(size=(2, 128)).astype(np.float32)
    gallery = Gallery(device, 1, 7, "", "dlib_resnet@1", "cosine", 0.92, (GalleryStudent(5, vectors),))
    return Gallery(**{**gallery.__dict__, "sha256": gallery_digest(gallery)})


@pytest.fixture
def server(tmp_path, registry) -> Iterator[BundleServer]:
    """The exported models served as a bundle whose galleries are made with dlib (version A)."""
    instance = BundleServer(real_models(tmp_path / "server-models", MODELS), embedder="dlib_resnet")
    yield instance
    instance.close()


@pytest.fixture
def agent(tmp_path, server) -> Iterator[EdgeAgent]:
    """A real agent on the broker; it pulled version A on first start and holds a dlib gallery."""
    require_broker()
    device = f"models-{secrets.token_hex(3)}"
    (tmp_path / "gallery.json").write_bytes(dlib_gallery(device).encode())
    path = tmp_path / "edge.json"
    path.write_text(
        json.dumps(
            {
                "device_id": device,
                "outbox_path": str(tmp_path / "outbox.sqlite"),
                "gallery_path": str(tmp_path / "gallery.json"),
                "models_dir": str(tmp_path / "device-models"),
                "embedder": "sface",  # the bundle's embedder wins: its galleries are made with it
                "server": {"url": server.url, "token": TOKEN, "timeout_s": 10},
                "broker": {"host": BROKER[0], "port": BROKER[1], "session_expiry_s": 30},
            }
        )
    )
    instance = EdgeAgent(load_config(path), mqtt=True)
    assert instance.publisher is not None
    instance.publisher.start()
    assert instance.publisher.wait_connected(10)
    yield instance
    instance.publisher.stop()
    instance.models.close()
    instance.outbox.close()
    forget(device)


def frame() -> np.ndarray:
    return read_image(
        data_path(
            "lfw_subset_10x10",
            "Colin_Powell",
            sorted(p.name for p in data_path("lfw_subset_10x10", "Colin_Powell").iterdir())[0],
        )
    )


def process(agent: EdgeAgent) -> None:
    agent.process(frame(), datetime.now(timezone.utc), RunStats())


def settle(agent: EdgeAgent, version: str | None = None) -> None:
    """Wait until the announcement was acted on (the installed version moved, or the update ended)."""
    if version is not None:
        assert wait_until(lambda: installed_version(agent.config.models_path) == version, WAIT)
    assert wait_until(lambda: not agent.models.updating, WAIT)


def test_an_announced_bundle_with_another_embedder_is_swapped_in_and_drops_the_old_gallery(agent, server):
    first = server.manifest["version"]
    assert agent.analyzer.embedder_name == "dlib_resnet" and agent.gallery.model == "dlib_resnet@1"
    assert agent.gallery.current is not None and agent.gallery.current.version == 7
    process(agent)  # recognising with version A

    server.embedder = "sface"  # the server's galleries move to SFace: same files, a new bundle
    server.refresh()
    second = server.manifest["version"]
    assert second != first
    announce(agent.config.device_id, server)
    settle(agent, second)
    assert server.file_requests().count("sface.onnx") == 1  # only the first pull downloaded files
    assert agent.analyzer.embedder_name == "dlib_resnet"  # until the next frame boundary

    process(agent)
    assert agent.analyzer.embedder_name == "sface"
    assert agent.analyzer.registry.models_dir == active_dir(agent.config.models_path)
    assert agent.gallery.model == "sface@2021dec"
    assert agent.gallery.current is None  # never matched against SFace vectors
    assert any("now embeds with sface@2021dec" in reason for reason in agent.gallery.rejected)
    report = agent.telemetry_report()
    assert report.models_bundle == second and report.models_error is None

    # The stored dlib gallery is not used after a restart either.
    restarted = EdgeAgent(agent.config, mqtt=False)
    try:
        assert restarted.analyzer.embedder_name == "sface" and restarted.gallery.current is None
    finally:
        restarted.models.close()
        restarted.outbox.close()


def test_a_failed_update_keeps_the_previous_set_and_reports_why(agent, server, caplog):
    first = server.manifest["version"]
    folder = active_dir(agent.config.models_path)

    # 1. A file that arrives corrupted: nothing is installed.
    rewrite_model(
        server.models_dir, "mtcnn_pnet", (server.models_dir / "mtcnn_pnet.onnx").read_bytes() + b"\0"
    )
    server.refresh()
    server.faults.tamper.add("mtcnn_pnet.onnx")
    announce(agent.config.device_id, server)
    assert wait_until(lambda: agent.models.last_error is not None, WAIT)
    settle(agent)
    assert "mtcnn_pnet.onnx does not match the bundle manifest" in agent.models.last_error
    assert installed_version(agent.config.models_path) == first
    process(agent)
    assert agent.analyzer.registry.models_dir == folder
    assert "does not match" in agent.telemetry_report().models_error
    assert "Still running on " + first in caplog.text

    # 2. A bundle that verifies but does not load: installed, then rolled back to the previous set.
    server.faults.tamper.clear()
    rewrite_model(server.models_dir, "sface", b"not an onnx model")
    server.refresh()
    announce(agent.config.device_id, server)
    assert wait_until(lambda: "could not be loaded" in (agent.models.last_error or ""), WAIT)
    settle(agent)
    assert installed_version(agent.config.models_path) == first
    assert active_dir(agent.config.models_path) == folder
    process(agent)
    assert agent.analyzer.registry.models_dir == folder and agent.analyzer.embedder_name == "dlib_resnet"
    assert "went back to the previous set" in agent.telemetry_report().models_error


def test_a_device_without_a_server_logs_the_announcement_and_keeps_running(tmp_path, server, caplog):
    from edge.models_sync import ModelUpdater, ServerSettings

    updater = ModelUpdater(Path(tmp_path / "none"), ServerSettings(), lambda folder, embedder: None, "sface")
    message = ModelsAnnouncement(
        "room-1", server.manifest["version"], manifest_sha256(server.raw), "sface@2021dec"
    )
    updater.offer(message)
    updater.offer(message)
    assert caplog.text.count("no [server] url is configured") == 1 and updater.threads == []


def test_a_failed_update_is_tried_again_until_the_server_is_fixed(tmp_path, caplog):
    from edge.models_sync import ModelUpdater, ServerSettings
    from tests.bundle_support import fake_models

    server = BundleServer(fake_models(tmp_path / "server-models"))
    loaded: list[tuple[Path, str]] = []
    updater = ModelUpdater(
        tmp_path / "device-models",
        ServerSettings(url=server.url, token=TOKEN, timeout_s=5),
        lambda folder, embedder: loaded.append((folder, embedder)) or "analyzer",
        "sface",
        retry_s=0.3,
        retry_max_s=0.6,
    )
    try:
        server.faults.tamper.add("sface.onnx")
        message = ModelsAnnouncement(
            "room-1", server.manifest["version"], manifest_sha256(server.raw), "sface@2021dec"
        )
        updater.offer(message)
        assert wait_until(lambda: caplog.text.count("trying again in") >= 2, WAIT)  # failed, retried, failed
        assert updater.version is None and "does not match" in updater.last_error
        server.faults.tamper.clear()  # fixed: the next retry installs it, no new announcement needed
        assert wait_until(lambda: updater.version == server.manifest["version"], WAIT)
        assert wait_until(lambda: not updater.updating, WAIT)
        ready = updater.take()
        assert ready is not None and ready.loaded == "analyzer" and ready.embedder == "sface"
        assert loaded == [(active_dir(tmp_path / "device-models"), "sface")] and updater.last_error is None
        attempts = len(server.requests)
        time.sleep(1.5)
        assert len(server.requests) == attempts  # no retry is left once it succeeded
    finally:
        updater.close()
        server.close()
