"""End to end on a simulated lecture: video -> `visage edge run` -> Mosquitto (127.0.0.1:1883) ->
`visage server ingest` -> MariaDB -> attendance engine, compared student by student with the truth.

Every component is the real one in its own process; only the class is small (8 seats, one frame
per 30 s of lecture and 960 x 540 frames) so the run fits in about a minute of CPU.
"""

from __future__ import annotations

import socket
import subprocess
import sys

from simulate.run import Simulation, compose_for_run
from tests.conftest import BROKER, REPO, data_path, require_broker


def test_simulated_lecture_attendance_equals_truth(tmp_path, mariadb_url):
    faces = data_path("lfw_deepfunneled_pairs", "images")
    require_broker()
    truth = compose_for_run(faces, tmp_path, seed=3, seats=8, seconds_per_frame=30.0, width=960, height=540)
    sim = Simulation(truth, mariadb_url, broker=BROKER, work_dir=tmp_path / "run")
    try:
        scenario = sim.prepare()
        sim.start_ingest()
        sim.provision_gallery()
        sim.start_edge()
        sim.wait_edge(600)
        sim.wait_delivered(120)
        statuses, unknown_faces = sim.statuses()
        report = sim.report()
        faces = unknown_sightings(sim.app)
    finally:
        sim.close()

    # Every roster student's session status exactly as scripted: nothing approximate here. The
    # scripted times keep minutes of margin from the policy's limits (simulate.timeline).
    assert set(scenario.students) == set(truth.roster) and scenario.not_enrolled == ()
    assert statuses == truth.expected, report["mismatches"]
    assert report["correct"] == len(truth.roster)
    assert {s for s in truth.expected.values()} == {"present", "late", "left_early", "absent"}
    for status in ("present", "late", "left_early"):
        assert report["metrics"][status] == {"precision": 1.0, "recall": 1.0}
    # Strangers are seen but never credited to anyone: they show up as unknown faces.
    assert unknown_faces >= len(truth.strangers)
    # ... each with the face the instructor needs to see and the embedding that clusters it.
    assert faces and all(crop and crop.startswith(b"\xff\xd8") for crop, _, _ in faces)
    assert all(embedding and model for _, embedding, model in faces)
    # Exactly once: every event id the edge produced is stored, none twice, nothing else.
    delivery = report["delivery"]
    assert delivery["published"] > 0
    assert delivery["lost"] == delivery["duplicated"] == delivery["unexpected"] == 0
    assert delivery["stored"] == delivery["published"]
    # An early leaver becomes knowable after the gap tolerance (5 min), well before the end.
    delay = report["early_leave_delay_s"]
    assert delay["undetected"] == 0 and 0 < delay["max"] < 600
    # The live roster (server/attendance/presence.py) shows it much sooner, and never shows a
    # student who is in the room as out (the edge's heartbeat keeps followed tracks reported).
    live = report["live"]
    assert live["out_after_s"] == 90.0
    assert live["early_leave_delay_s"]["undetected"] == 0
    assert 0 < live["early_leave_delay_s"]["max"] < delay["max"]
    assert live["false_out_episodes"] == 0, live["false_out"]


def unknown_sightings(app) -> list[tuple]:
    """(crop, embedding, embedder id) of every unknown-face sighting stored."""
    from sqlalchemy import select

    from server.db import get_db
    from server.db.models import Sighting

    columns = (Sighting.thumbnail, Sighting.embedding, Sighting.embedding_model)
    with get_db(app).session() as session:
        return [tuple(row) for row in session.execute(select(*columns).where(Sighting.student_id.is_(None)))]


def simulate_run(*args: str) -> subprocess.CompletedProcess[str]:
    """`visage simulate run ARGS` in a child process, as an operator types it."""
    return subprocess.run(
        [sys.executable, "-m", "visage.cli", "simulate", "run", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_simulate_run_cli_refuses_an_unreachable_broker():
    faces = data_path("lfw_deepfunneled_pairs", "images")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    result = simulate_run("--faces", str(faces), "--broker", f"127.0.0.1:{port}")
    assert result.returncode == 2
    assert "cannot reach the MQTT broker" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""
    bad = simulate_run("--faces", str(faces), "--broker", "nohostport")
    assert bad.returncode == 2 and "HOST:PORT" in bad.stderr
