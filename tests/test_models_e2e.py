"""End to end: a real server process delivers the models to a device that has none, and the device
recognises a simulated class with them.

The server runs from the main virtual environment (`.venv/bin/python -m visage.cli server run`, SQLite,
the repository's exported models): an administrator account and API token from the CLI, the device
registered through the API, its token from `visage server device-token`. The device side runs on this
interpreter (the device profile's Python 3.10 with only '.[edge]' when run by scripts/test_edge.sh):
`visage edge models pull --config` into an empty folder, a gallery embedded on the device from the
class's enrolment photos with the pulled models, then `visage edge run` on the class video. The edge
processes get a VISAGE_MODELS_DIR that does not exist, so nothing but the pulled set can be loaded.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import numpy as np
import pytest

from edge.outbox import Outbox
from shared.analysis import FaceAnalyzer
from shared.bundle import active_dir, installed_version
from shared.embed import embedder_id, require_embedder
from shared.media import read_image
from shared.messages import Gallery, GalleryStudent, gallery_digest
from shared.model_registry import ModelRegistry
from simulate import compose_classroom
from tests.conftest import REPO, data_path, unavailable

pytestmark = [pytest.mark.device_profile, pytest.mark.slow]

SERVER_PYTHON = REPO / ".venv" / "bin" / "python"
DEVICE = "e2e-room"
WAIT = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(SERVER_PYTHON), "-m", "visage.cli", "server", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def api(url: str, token: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read() or b"{}")


@pytest.fixture
def server(tmp_path) -> Iterator[tuple[str, str]]:
    """(url, device token) of a real server process on a free port, with DEVICE registered."""
    if not SERVER_PYTHON.is_file():
        unavailable(f"{SERVER_PYTHON} is missing: the server runs from the main venv (bash scripts/setup.sh)")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("VISAGE_") and key != "DATABASE_URL"
    }
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'server.db'}",
        VISAGE_INSTANCE_PATH=str(tmp_path / "instance"),
        VISAGE_ARGON2_TIME_COST="1",
        VISAGE_ARGON2_MEMORY_COST="8",
        VISAGE_ARGON2_PARALLELISM="1",
        PYTHONUNBUFFERED="1",
    )
    server_cli(env, "init-db")
    server_cli(
        env,
        "create-user",
        "--email",
        "admin@example.org",
        "--name",
        "Admin",
        "--role",
        "admin",
        "--no-password",
    )
    admin = server_cli(env, "create-token", "--email", "admin@example.org", "--name", "e2e").strip()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [str(SERVER_PYTHON), "-m", "visage.cli", "server", "run", "--port", str(port), "--no-migrate"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + WAIT
        while True:
            assert process.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not answer /healthz"
                time.sleep(0.2)
        status, _ = api(f"{url}/api/v1/devices", admin, {"device_id": DEVICE, "name": "E2E room"})
        assert status == 201
        token = server_cli(env, "device-token", DEVICE).strip()
        assert token.startswith("vsd_")
        yield url, token
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()


def edge_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "visage.cli", "edge", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_device_pulls_its_models_from_the_server_and_recognises_the_class(tmp_path, server):
    url, token = server
    truth = compose_classroom(
        data_path("lfw_subset_10x10"), tmp_path / "class", seed=3, seats=6, minutes=40, seconds_per_frame=60
    )
    models_dir = tmp_path / "device-models"
    config = tmp_path / "edge.json"
    config.write_text(
        json.dumps(
            {
                "device_id": DEVICE,
                "source": str(truth.video),
                "start_time": truth.video_start.isoformat(),
                "frame_interval_s": truth.seconds_per_frame,
                "outbox_path": str(tmp_path / "outbox.sqlite"),
                "gallery_path": str(tmp_path / "gallery.json"),
                "models_dir": str(models_dir),
                "max_age": 2,
                "recognizer": {"embed_every": 2, "repeat_s": 30.0},
                "server": {"url": url, "token": token, "timeout_s": 30},
            }
        )
    )
    env = {**os.environ, "VISAGE_MODELS_DIR": str(tmp_path / "no-models-here"), "PYTHONUNBUFFERED": "1"}

    pulled = edge_cli(env, "models", "pull", "--config", str(config))
    assert pulled.returncode == 0, pulled.stderr[-3000:]
    result = json.loads(pulled.stdout)
    assert result["changed"] and result["downloaded"] == result["files"] >= 4
    assert installed_version(models_dir) == result["version"] and result["embedder"] == "sface@2021dec"

    # The gallery the server would publish, embedded on the device with the pulled models.
    analyzer = FaceAnalyzer(ModelRegistry(active_dir(models_dir)), embedder="sface").prepare()
    ids = {name: index + 1 for index, name in enumerate(sorted(truth.roster))}
    students = []
    for name, student_id in ids.items():
        vectors = []
        for photo in sorted((truth.enrol_dir / name).iterdir()):
            faces = analyzer.get(read_image(photo), max_faces=1)
            if faces:
                vectors.append(faces[0].embedding)
        if vectors:
            students.append(GalleryStudent(student_id, np.asarray(vectors, np.float32)))
    model = embedder_id("sface")
    gallery = Gallery(
        DEVICE, 1, 1, "", model, "cosine", float(require_embedder(model)["strict_threshold"]), tuple(students)
    )
    gallery = Gallery(**{**gallery.__dict__, "sha256": gallery_digest(gallery)})
    (tmp_path / "gallery.json").write_bytes(gallery.encode())

    run = edge_cli(env, "run", "--config", str(config), "--no-mqtt")
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["frames"] == truth.frames and summary["events"] > 0

    outbox = Outbox(tmp_path / "outbox.sqlite")
    _, events = outbox.next_batch(10_000)
    outbox.close()
    recognised = {event.student_id for event in events if event.student_id is not None}
    in_view = {ids[p.name] for p in truth.people if p.roster and p.seat is not None}
    absent = {ids[p.name] for p in truth.people if p.roster and p.seat is None}
    assert recognised <= in_view, f"recognised {recognised - in_view}, who never appeared"
    assert not recognised & absent
    assert len(recognised) >= max(1, int(0.75 * len(in_view))), (recognised, in_view)
