"""`visage edge models pull --config` and the agent's first start, against an HTTP(S) bundle server.

The server here is tests.bundle_support.BundleServer (stdlib http.server speaking the device endpoints'
protocol) so that faults a real server should never produce can be staged: a file whose bytes do not
match the manifest, a connection that breaks off, a manifest of a newer format. Every one of them, an
unreachable server, a refused token and an untrusted TLS certificate must leave the installed set
untouched, with one sentence and exit code 2. The real server's endpoints: tests/server/; the whole
chain: tests/test_models_e2e.py. Device profile: nothing of the server is imported.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.agent import EdgeAgent
from edge.config import load_config
from edge.models_sync import ServerSettings, pull
from shared.bundle import BUNDLE_FORMAT, BundleError, active_dir, encode_manifest, installed_version
from shared.model_registry import sha256_file
from tests.bundle_support import (
    TOKEN,
    BundleServer,
    fake_models,
    real_models,
    rewrite_model,
    run_cli,
    snapshot,
)
from tests.test_mqtt_tls import make_ca, make_server_cert

pytestmark = pytest.mark.device_profile


@pytest.fixture
def server(tmp_path) -> Iterator[BundleServer]:
    instance = BundleServer(fake_models(tmp_path / "server-models"))
    yield instance
    instance.close()


def edge_config(tmp_path: Path, url: str, token: str = TOKEN, **server: object) -> Path:
    path = tmp_path / "edge.json"
    path.write_text(
        json.dumps(
            {
                "device_id": "room-101",
                "source": "0",
                "outbox_path": str(tmp_path / "outbox.sqlite"),
                "gallery_path": str(tmp_path / "gallery.json"),
                "models_dir": str(tmp_path / "device-models"),
                "server": {"url": url, "token": token, "timeout_s": 5, **server},
            }
        )
    )
    return path


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def installed(tmp_path, server, capsys) -> Path:
    """The device pulled version 1 from the server into its empty models folder."""
    config = edge_config(tmp_path, server.url)
    code, out, err = run_cli(capsys, "edge", "models", "pull", "--config", str(config))
    assert code == 0, err
    result = json.loads(out)
    assert result["changed"] and result["downloaded"] == 5 and result["version"] == server.manifest["version"]
    return tmp_path / "device-models"


def test_pull_into_an_empty_folder_then_only_what_changed(installed, tmp_path, server, capsys):
    for entry in server.manifest["files"]:
        assert sha256_file(active_dir(installed) / entry["name"]) == entry["sha256"]
    assert sorted(server.file_requests()) == sorted(server.files)
    server.requests.clear()
    code, out, _ = run_cli(capsys, "edge", "models", "pull", "--config", str(tmp_path / "edge.json"))
    assert code == 0 and json.loads(out)["changed"] is False and server.file_requests() == []

    rewrite_model(server.models_dir, "mtcnn_onet", b"onet v2" * 300)  # a re-export of one model
    server.refresh()
    code, out, _ = run_cli(capsys, "edge", "models", "pull", "--config", str(tmp_path / "edge.json"))
    assert code == 0 and json.loads(out)["downloaded"] == 1
    assert server.file_requests() == ["mtcnn_onet.onnx"]  # the other four came from the set in use
    assert installed_version(installed) == server.manifest["version"]
    assert (active_dir(installed) / "mtcnn_onet.onnx").read_bytes() == b"onet v2" * 300


@pytest.mark.parametrize(
    ("fault", "sentence"),
    [
        ("tamper", "does not match the bundle manifest (sha256"),
        ("truncate", "truncated"),
        ("newer_format", f"has format {BUNDLE_FORMAT + 1}, newer than this software reads"),
        ("bad_token", "The model server refused /api/v1/device/models/manifest (401): unknown or replaced"),
        ("unreachable", "Cannot reach the model server at http://127.0.0.1:"),
    ],
)
def test_a_failed_pull_leaves_the_installed_set_untouched(
    installed, tmp_path, server, capsys, fault, sentence
):
    before = snapshot(installed)
    rewrite_model(server.models_dir, "sface", b"sface v2" * 999)
    server.refresh()
    config = tmp_path / "edge.json"
    if fault == "tamper":
        server.faults.tamper.add("sface.onnx")
    elif fault == "truncate":
        server.faults.truncate.add("sface.onnx")
    elif fault == "newer_format":
        server.faults.manifest_override = encode_manifest({**server.manifest, "format": BUNDLE_FORMAT + 1})
    elif fault == "bad_token":
        config = edge_config(tmp_path, server.url, token="vsd_" + "x" * 43)
    else:
        config = edge_config(tmp_path, f"http://127.0.0.1:{closed_port()}")
    code, out, err = run_cli(capsys, "edge", "models", "pull", "--config", str(config))
    assert code == 2 and out == ""
    assert sentence in err and err.startswith("visage: ") and err.count("\n") == 1, err
    assert snapshot(installed) == before
    assert not list(installed.glob(".staging-*"))


def test_an_announced_digest_that_the_server_no_longer_serves_is_refused(installed, server):
    before = snapshot(installed)
    rewrite_model(server.models_dir, "sface", b"newer")
    server.refresh()
    settings = ServerSettings(url=server.url, token=TOKEN)
    with pytest.raises(BundleError, match="not the announced one"):
        pull(settings, installed, expected_sha256="0" * 64)
    assert snapshot(installed) == before


def test_tls_with_the_configured_ca(tmp_path, capsys):
    ca_key, ca_cert = make_ca(tmp_path, "visage-test-ca")
    key, cert = make_server_cert(tmp_path, ca_key, ca_cert)
    server = BundleServer(fake_models(tmp_path / "server-models"), certfile=cert, keyfile=key)
    try:
        config = edge_config(tmp_path, server.url)  # system CAs only: the private CA is not trusted
        code, _, err = run_cli(capsys, "edge", "models", "pull", "--config", str(config))
        assert code == 2 and "TLS: the certificate of the model server" in err and "ca_certs" in err
        assert not (tmp_path / "device-models" / "current").exists()
        config = edge_config(tmp_path, server.url, ca_certs=str(ca_cert))
        code, out, err = run_cli(capsys, "edge", "models", "pull", "--config", str(config))
        assert code == 0, err
        assert json.loads(out)["version"] == server.manifest["version"]
    finally:
        server.close()


def test_config_refuses_a_bad_server_table(tmp_path, capsys):
    for server, sentence in [
        ({"url": "ftp://x"}, "[server] url must start with https://"),
        ({"url": "https://x", "token": "vsg_user-token"}, "[server] token must be a device token"),
        ({"url": "https://x", "timeout_s": 0}, "[server] timeout_s must be more than 0"),
        ({"url": "https://x", "nope": 1}, "Unknown setting(s) in [server]: nope"),
    ]:
        path = tmp_path / "bad.json"
        path.write_text(json.dumps({"device_id": "room-101", "server": server}))
        code, _, err = run_cli(capsys, "edge", "models", "pull", "--config", str(path))
        assert code == 2 and sentence in err, err
    path.write_text(json.dumps({"device_id": "room-101"}))
    code, _, err = run_cli(capsys, "edge", "models", "pull", "--config", str(path))
    assert code == 2 and "has no [server] url" in err
    config = load_config(edge_config(tmp_path, "https://visage.example.org"))
    assert (
        config.server.url == "https://visage.example.org" and config.models_path == tmp_path / "device-models"
    )


# ------------------------------------------------------------------ the agent's first start


@pytest.fixture
def real_server(tmp_path, registry) -> Iterator[BundleServer]:
    """The exported models (the agent loads them), served as a bundle."""
    instance = BundleServer(
        real_models(tmp_path / "server-models", ["mtcnn_pnet", "mtcnn_rnet", "mtcnn_onet", "sface"])
    )
    yield instance
    instance.close()


def test_first_start_pulls_the_models_then_runs_on_them(tmp_path, real_server, caplog):
    config = load_config(edge_config(tmp_path, real_server.url))
    assert not (tmp_path / "device-models").exists()
    agent = EdgeAgent(config, mqtt=False)
    try:
        folder = active_dir(config.models_path)
        assert installed_version(config.models_path) == real_server.manifest["version"]
        assert agent.analyzer.registry.models_dir == folder and agent.analyzer.embedder_name == "sface"
        assert agent.gallery.model == "sface@2021dec"
        assert agent.telemetry.models["sface"] == real_server.manifest["models"]["sface"]["sha256"][:12]
        report = agent.telemetry_report()
        assert report.models_bundle == real_server.manifest["version"] and report.models_error is None
    finally:
        agent.models.close()
        agent.outbox.close()

    # Restarted with the server gone: it runs on what it has and says so in one log line.
    real_server.close()
    with caplog.at_level(logging.ERROR, logger="edge.models_sync"):
        agent = EdgeAgent(config, mqtt=False)
        agent.models.wait(30)
    try:
        assert agent.analyzer.registry.models_dir == folder
        assert "Cannot reach the model server" in caplog.text and "Still running on" in caplog.text
        assert agent.telemetry_report().models_error.startswith("Cannot reach the model server")
    finally:
        agent.models.close()
        agent.outbox.close()


def test_first_start_without_models_and_without_the_server_exits_2(tmp_path, capsys):
    config = edge_config(tmp_path, f"http://127.0.0.1:{closed_port()}")
    code, out, err = run_cli(capsys, "edge", "run", "--config", str(config), "--no-mqtt", "--max-frames", "1")
    assert code == 2 and out == ""
    assert err.startswith("visage: No models in") and "Cannot reach the model server" in err
    assert err.count("\n") == 1
