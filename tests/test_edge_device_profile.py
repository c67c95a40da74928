"""The device profile: what a Jetson installs (`pip install '.[edge]'`, Python 3.10) runs the agent.

These run in both environments; `scripts/test_edge.sh` runs every `device_profile` module in a
Python 3.10 virtual environment holding only the edge extras, so an import of the server, of
PyTorch or of a 3.11-only module anywhere on the device's path fails there.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from edge.telemetry import model_versions
from tests.conftest import REPO, data_path, require_broker
from tests.test_edge_mqtt import Collector, clear_retained, new_device, wait_for

pytestmark = pytest.mark.device_profile

SERVER_ONLY = (
    "server",
    "flask",
    "sqlalchemy",
    "alembic",
    "pymysql",
    "torch",
    "facenet_pytorch",
    "onnx",
    "rq",
)


def test_the_device_code_imports_nothing_from_the_server_or_pytorch():
    """Every module a device runs, imported in a fresh interpreter: none of them drags in a server
    package, PyTorch or the exporter (which a device never has)."""
    probe = textwrap.dedent(
        f"""
        import pkgutil, sys, importlib
        import edge, shared
        skip = ("shared.export",)
        names = ["visage.cli", "visage.subcommands.edge"]
        for package in (edge, shared):
            for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
                if not info.name.startswith(skip):
                    names.append(info.name)
        for name in names:
            importlib.import_module(name)
        loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set({SERVER_ONLY!r}))
        print(len(names), ",".join(loaded))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    count, loaded = result.stdout.split()[0], result.stdout.strip().partition(" ")[2]
    assert int(count) > 15 and loaded == "", f"device modules imported {loaded}"


@pytest.mark.skipif(os.environ.get("VISAGE_TEST_PROFILE") != "edge", reason="only in scripts/test_edge.sh")
def test_the_profile_is_python_3_10_without_server_packages():  # pragma: no cover - device profile only
    assert sys.version_info[:2] == (3, 10), sys.version
    import importlib.util

    present = [name for name in SERVER_ONLY if importlib.util.find_spec(name) is not None]
    assert present == ["server"] or present == [], present  # the repository's own server/ folder


def test_visage_edge_run_on_a_video_publishes_through_mosquitto_and_drains_its_outbox(tmp_path):
    """`visage edge run` as a device runs it: its own process, a video file, the local Mosquitto.
    Every event it queued (the outbox's ledger) arrives on the sightings topic, the outbox ends
    empty, and its telemetry names the providers each model ran on."""
    require_broker()
    video = data_path("face_recognition_examples", "examples", "short_hamilton_clip.mp4")
    device = new_device()
    collector = Collector(1883, device)
    outbox = tmp_path / "state" / "outbox.sqlite"
    outbox.parent.mkdir()
    config = tmp_path / "edge.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            device_id = "{device}"
            source = "{video}"
            start_time = "2026-03-02T09:00:00Z"
            outbox_path = "{outbox}"
            gallery_path = "{tmp_path / "state" / "gallery.json"}"
            manifest_path = "{REPO / "models" / "manifest.json"}"
            ledger = true
            drain_s = 20

            [broker]
            host = "127.0.0.1"
            port = 1883

            [runtime]
            providers = ["cpu"]
            """
        )
    )
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "visage.cli",
                "edge",
                "run",
                "--config",
                str(config),
                "--max-frames",
                "40",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        summary = json.loads(result.stdout.strip().splitlines()[-1])
        assert summary["frames"] == 40 and summary["faces"] > 0 and summary["events"] > 0
        assert "model mtcnn_pnet runs on CPUExecutionProvider" in result.stderr

        with sqlite3.connect(outbox) as db:
            ledger = {row[0] for row in db.execute("SELECT event_id FROM ledger")}
            left = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        assert len(ledger) == summary["events"] and left == 0
        wait_for(lambda: set(collector.ids) >= ledger, "every ledger id on the sightings topic")
        assert set(collector.ids) == ledger
        wait_for(lambda: bool(collector.telemetry), "a telemetry report")
        report = collector.telemetry[-1]
        assert set(report.providers) >= {"mtcnn_pnet", "mtcnn_rnet", "mtcnn_onet"}
        assert all(names == ("CPUExecutionProvider",) for names in report.providers.values())
        assert report.models == model_versions(REPO / "models" / "manifest.json")
        wait_for(lambda: "offline" in collector.statuses, "the offline status at exit")
    finally:
        collector.close()
        clear_retained(1883, device)


def test_visage_edge_run_refuses_a_provider_the_build_lacks(tmp_path):
    config = tmp_path / "edge.toml"
    config.write_text('device_id = "room-101"\n[runtime]\nproviders = ["tensorrt", "cpu"]\n')
    result = subprocess.run(
        [sys.executable, "-m", "visage.cli", "edge", "run", "--config", str(config), "--no-mqtt"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    import onnxruntime as ort

    if "TensorrtExecutionProvider" in ort.get_available_providers():  # pragma: no cover - GPU builds
        pytest.skip("this onnxruntime build has TensorRT")
    assert result.returncode == 2
    assert result.stderr.startswith("visage: [runtime] providers: Tensorrt is not available")
