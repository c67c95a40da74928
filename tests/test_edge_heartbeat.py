"""The edge's presence heartbeat: a followed, recognised track is re-reported every `repeat_s` of
capture time, also in frames where its face is not found, and stops once the tracker drops it.

Real tracker and recognizer; the embeddings are synthetic vectors (what is tested is the timing of
the reports, not recognition). The server's live roster (server/attendance/presence.py) says "out"
after 90 s without a sighting: three missed heartbeats of 30 s.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from edge.config import ConfigError, load_config
from edge.gallery import gallery_digest
from edge.recognizer import Recognizer, RecognizerSettings
from edge.tracker import IouTracker
from shared.embed import DEFAULT_EMBEDDER, embedder_id
from shared.messages import Gallery, GalleryStudent
from shared.quality import Pose, Quality

pytestmark = pytest.mark.device_profile

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
FRAME_S = 10.0  # the simulator's compressed time: one frame per 10 s of lecture
BOX = np.array([100.0, 100, 180, 180])
GOOD = Quality(face_px=80, score=0.99, sharpness=200.0, pose=Pose(0.0, 0.0, 0.0), passed=True)


def gallery() -> Gallery:
    rng = np.random.default_rng(7)
    students = tuple(GalleryStudent(i, rng.normal(size=(2, 128)).astype(np.float32)) for i in (1, 2))
    draft = Gallery("room-1", 7, 1, "", embedder_id(DEFAULT_EMBEDDER), "cosine", 0.43, students)
    return dataclasses.replace(draft, sha256=gallery_digest(draft))


def play(detected: list[bool], repeat_s: float = 30.0, max_age: int = 2) -> list[tuple[float, int | None]]:
    """Run tracker + recognizer over frames (True: the face was detected); (seconds, student) reported."""
    g = gallery()
    face = g.students[0].embeddings[0]
    tracker = IouTracker(max_age=max_age, min_hits=2)
    recognizer = Recognizer(lambda: g, RecognizerSettings(repeat_s=repeat_s, embed_every=1))
    reports = []
    for index, seen in enumerate(detected):
        tracks = tracker.update([BOX] if seen else [])
        for track in tracks:
            if seen and recognizer.wants(track.track_id, index, 80.0):
                recognizer.add(track.track_id, index, face, GOOD, 80.0)
        confirmed = [t.track_id for t in tracker.tracks.values() if tracker.confirmed(t)]
        captured = T0 + timedelta(seconds=index * FRAME_S)
        for event in recognizer.step(confirmed, tracker.removed, captured):
            reports.append(((event.captured_at - T0).total_seconds(), event.student_id))
    return reports


def test_a_followed_track_is_reported_every_repeat_s():
    reports = play([True] * 20)
    assert {student for _, student in reports} == {1}
    times = [t for t, _ in reports]
    assert times[0] == 20.0  # confirmed at frame 1, decided after 3 views (frames 0-2)
    assert np.diff(times).tolist() == [30.0] * (len(times) - 1)
    assert times[-1] >= 190.0 - 30.0


def test_heartbeat_goes_on_while_the_face_is_missed_but_the_track_is_followed():
    # Detected in frames 0-7, not found in frames 8-9 (80 and 90 s: a hand over the face), found
    # again from frame 10 on. The beat due at 80 s is sent from the followed track.
    detected = [True] * 8 + [False, False] + [True] * 4
    times = [t for t, _ in play(detected)]
    assert times == [20.0, 50.0, 80.0, 110.0]
    # The same gap with a tracker that forgets at once: the track is dropped, a new one must be
    # confirmed and decided again, and the beat is late.
    restarted = [t for t, _ in play(detected, max_age=0)]
    assert 80.0 not in restarted and max(np.diff(restarted)) > 30.0


def test_heartbeat_stops_when_the_tracker_drops_the_track():
    detected = [True] * 10 + [False] * 20  # the student walked out after frame 9 (90 s)
    times = [t for t, _ in play(detected)]
    # 110 s: the track is still followed (max_age 2 frames), then nothing for the last 180 s, so the
    # live roster says "out" from 110 + 90 s on.
    assert times == [20.0, 50.0, 80.0, 110.0]


def test_a_shorter_heartbeat_reports_more_often():
    times = [t for t, _ in play([True] * 12, repeat_s=20.0)]
    assert np.diff(times).tolist() == [20.0] * (len(times) - 1)


def write(tmp_path, recognizer: dict) -> str:
    path = tmp_path / "edge.json"
    path.write_text(json.dumps({"device_id": "room-1", "recognizer": recognizer}))
    return str(path)


def test_heartbeat_is_configured_in_the_edge_config(tmp_path):
    assert load_config(write(tmp_path, {"repeat_s": 20})).recognizer.repeat_s == 20
    assert load_config(write(tmp_path, {})).recognizer.repeat_s == 30.0
    for bad in (0, -1, 301, "30", True, None):
        with pytest.raises(ConfigError, match="repeat_s"):
            load_config(write(tmp_path, {"repeat_s": bad}))
