"""Edge agent pipeline: tracker, per-track recognition on real faces, gallery store, agent on a video."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from edge.agent import EdgeAgent, RunStats
from edge.config import ConfigError, EdgeConfig, load_config
from edge.gallery import GalleryStore, gallery_digest
from edge.tracker import IouTracker
from shared.embed import DEFAULT_EMBEDDER, EMBEDDERS, embedder_id
from shared.media import read_image
from shared.messages import Gallery, GalleryStudent
from tests.conftest import data_path

pytestmark = pytest.mark.device_profile

DEVICE = "room-101"
ENROLLED = ("Colin_Powell", "George_W_Bush", "Tony_Blair")  # student ids 1, 2, 3
STRANGER = "Vladimir_Putin"
START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


SHIPPED = float(EMBEDDERS[DEFAULT_EMBEDDER]["strict_threshold"])


def make_gallery(students: list[GalleryStudent], threshold: float = SHIPPED, version: int = 1) -> Gallery:
    model = embedder_id(DEFAULT_EMBEDDER)
    draft = Gallery(DEVICE, 7, version, "", model, "cosine", threshold, tuple(students))
    return dataclasses.replace(draft, sha256=gallery_digest(draft))


# ---------------------------------------------------------------- tracker


def shift(box: np.ndarray, dx: float, dy: float) -> np.ndarray:
    return box + np.array([dx, dy, dx, dy])


def test_tracker_keeps_ids_on_moving_boxes_and_drops_old_tracks():
    tracker = IouTracker(max_age=3, min_hits=2)
    a, b = np.array([10.0, 10, 60, 60]), np.array([200.0, 50, 260, 110])
    ids = []
    for step in range(10):
        tracks = tracker.update([shift(a, 6 * step, 0), shift(b, 0, 5 * step)])
        ids.append((tracks[0].track_id, tracks[1].track_id))
    assert len(set(ids)) == 1 and ids[0][0] != ids[0][1]
    assert all(tracker.confirmed(t) for t in tracker.tracks.values())
    # Swapped detection order still maps to the same tracks.
    tracks = tracker.update([shift(b, 0, 50), shift(a, 60, 0)])
    assert (tracks[1].track_id, tracks[0].track_id) == ids[0]
    # Only b continues; a is dropped after max_age missed frames, and a new face gets a new id.
    removed = []
    for step in range(11, 16):
        tracker.update([shift(b, 0, 5 * step)])
        removed += tracker.removed
    assert removed == [ids[0][0]]
    assert list(tracker.tracks) == [ids[0][1]]
    fresh = tracker.update([shift(b, 0, 80), np.array([400.0, 400, 450, 450])])
    assert fresh[0].track_id == ids[0][1] and fresh[1].track_id not in ids[0]
    assert not tracker.confirmed(fresh[1])


# ---------------------------------------------------------------- gallery store


def test_gallery_store_persists_and_rejects_bad_digest(tmp_path):
    rng = np.random.default_rng(0)
    students = [GalleryStudent(i, rng.normal(size=(2, 128)).astype(np.float32)) for i in (1, 2)]
    good = make_gallery(students)
    path = tmp_path / "gallery.json"
    store = GalleryStore(path, DEVICE, model=embedder_id(DEFAULT_EMBEDDER))
    assert store.current is None
    assert store.offer(good) and store.version() == 1

    reloaded = GalleryStore(path, DEVICE, model=embedder_id(DEFAULT_EMBEDDER))  # a restart, offline
    assert reloaded.current is not None and reloaded.current.sha256 == good.sha256
    assert np.array_equal(reloaded.current.students[1].embeddings, students[1].embeddings)

    tampered_vectors = students[1].embeddings.copy()
    tampered_vectors[0, 0] += 1e-3
    tampered = dataclasses.replace(
        make_gallery(students, version=2), students=(students[0], GalleryStudent(2, tampered_vectors))
    )
    assert not reloaded.offer(tampered)
    assert reloaded.version() == 1 and "sha256 mismatch" in reloaded.rejected[-1]
    assert not reloaded.offer(dataclasses.replace(make_gallery(students, version=3), device_id="room-999"))
    assert GalleryStore(path, DEVICE).version() == 1  # the file still holds the good gallery

    path.write_bytes(path.read_bytes().replace(b'"version":1', b'"version":5').replace(b"A", b"B", 1))
    corrupted = GalleryStore(path, DEVICE)
    assert corrupted.current is None and corrupted.rejected


# ---------------------------------------------------------------- recognition on real faces


def lfw(name: str, number: int) -> np.ndarray:
    return read_image(data_path("lfw_subset_10x10", name, f"{name}_{number:04d}.jpg"))


@pytest.fixture(scope="module")
def enrolled_gallery(analyzer):
    students = []
    for student_id, name in enumerate(ENROLLED, start=1):
        vectors = []
        for number in (1, 2, 3):
            faces = analyzer.get(lfw(name, number), max_faces=1)
            assert faces, f"no face in {name}_{number:04d}"
            vectors.append(faces[0].embedding)
        students.append(GalleryStudent(student_id, np.stack(vectors).astype(np.float32)))
    return make_gallery(students)


def agent_config(tmp_path, **overrides) -> EdgeConfig:
    return EdgeConfig(
        device_id=DEVICE,
        outbox_path=str(tmp_path / "outbox.sqlite"),
        gallery_path=str(tmp_path / "gallery.json"),
        start_time=START,
        **overrides,
    )


def outbox_rows(path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT track_id, student_id, score, quality, captured_at FROM events").fetchall()


def test_recognizer_decides_per_track_on_real_faces(tmp_path, analyzer, enrolled_gallery):
    agent = EdgeAgent(agent_config(tmp_path), analyzer=analyzer, mqtt=False)
    assert agent.gallery.offer(enrolled_gallery)
    people = [*ENROLLED, STRANGER]
    photos = [lfw(name, 5) for name in people]  # never enrolled photos
    stats = RunStats()
    frames = 14
    for index in range(frames):
        canvas = np.full((290, 260 * len(photos)), 128, np.uint8)[..., None].repeat(3, axis=2)
        for slot, photo in enumerate(photos):
            x, y = 260 * slot + index % 5, 20 + (index * 3) % 10  # the faces drift a few pixels
            canvas[y : y + 250, x : x + 250] = photo
        agent.process(canvas, START + timedelta(seconds=index / 10), stats)

    rows = outbox_rows(agent.config.outbox_path)
    decided = {}
    for track in agent.tracker.tracks.values():
        if min(track.box[2] - track.box[0], track.box[3] - track.box[1]) < 60:
            continue  # small background faces of the LFW photos
        slot = int((track.box[0] + track.box[2]) / 2 // 260)
        done, student, score = agent.recognizer.decision(track.track_id)
        assert done, f"{people[slot]} undecided (score {score})"
        decided[people[slot]] = student
    assert decided == {"Colin_Powell": 1, "George_W_Bush": 2, "Tony_Blair": 3, STRANGER: None}
    assert {(track, student) for track, student, *_ in rows} >= {
        (t.track_id, decided[people[int((t.box[0] + t.box[2]) / 2 // 260)]])
        for t in agent.tracker.tracks.values()
        if t.box[2] - t.box[0] >= 60
    }
    # A few views per face, never one per frame.
    assert agent.recognizer.embeddings_used <= len(agent.tracker.tracks) * 4
    assert stats.embeddings == agent.recognizer.embeddings_used < stats.faces / 2


# ---------------------------------------------------------------- the agent on a video file


def test_agent_runs_on_a_video_file(tmp_path, analyzer):
    video = data_path("face_recognition_examples", "examples", "short_hamilton_clip.mp4")
    config_path = tmp_path / "edge.json"
    config_path.write_text(
        json.dumps(
            {
                "device_id": DEVICE,
                "source": "0",
                "start_time": "2026-03-02T09:00:00Z",
                "outbox_path": str(tmp_path / "outbox.sqlite"),
                "gallery_path": str(tmp_path / "gallery.json"),
                "manifest_path": "models/manifest.json",
                "recognizer": {"repeat_s": 1.0},
            }
        )
    )
    config = load_config(config_path)
    agent = EdgeAgent(config, analyzer=analyzer, mqtt=False)
    stats = agent.run(source=str(video), max_frames=60)
    assert stats.frames == 60 and stats.faces > 0
    rows = outbox_rows(config.outbox_path)
    assert rows and stats.events == len(rows)
    assert all(student is None for _, student, *_ in rows)  # no gallery yet: unknown faces
    times = [datetime.fromisoformat(row[4].replace("Z", "+00:00")) for row in rows]
    assert all(START <= moment <= START + timedelta(seconds=60 / 20) for moment in times)
    assert max(times) > min(times)  # stamped from the frame timestamps, not one wall-clock time
    assert stats.embeddings < stats.faces


def test_config_errors_are_sentences(tmp_path):
    bad = tmp_path / "edge.toml"
    bad.write_text('device_id = "room 101"\n')
    with pytest.raises(ConfigError, match="device_id"):
        load_config(bad)
    bad.write_text('device_id = "room-101"\n[broker]\nhots = "x"\n')
    with pytest.raises(ConfigError, match="hots"):
        load_config(bad)


def test_cli_edge_run(tmp_path, capsys, registry):
    from visage.cli import main

    video = data_path("face_recognition_examples", "examples", "short_hamilton_clip.mp4")
    config = tmp_path / "edge.toml"
    config.write_text(
        f'device_id = "{DEVICE}"\nsource = "{video}"\noutbox_path = "{tmp_path / "o.sqlite"}"\n'
        f'gallery_path = "{tmp_path / "g.json"}"\n'
    )
    assert main(["edge", "run", "--config", str(config), "--max-frames", "3", "--no-mqtt"]) == 0
    assert json.loads(capsys.readouterr().out)["frames"] == 3
    assert main(["edge", "run", "--config", str(tmp_path / "missing.toml"), "--no-mqtt"]) == 2
    assert "Cannot read" in capsys.readouterr().err


def test_device_refuses_a_gallery_of_another_embedder_or_version(tmp_path):
    rng = np.random.default_rng(1)
    students = [GalleryStudent(1, rng.normal(size=(1, 128)).astype(np.float32))]
    store = GalleryStore(tmp_path / "gallery.json", DEVICE, model=embedder_id("sface"))
    assert store.offer(make_gallery(students))
    for other in ("dlib_resnet@1", "sface@2019old", "sface"):
        draft = dataclasses.replace(make_gallery(students, version=2), model=other)
        assert not store.offer(dataclasses.replace(draft, sha256=gallery_digest(draft)))
        reason = store.rejected[-1]
        assert f"gallery is for model {other}" in reason and embedder_id("sface") in reason
    assert store.version() == 1  # the last usable gallery stays in use
