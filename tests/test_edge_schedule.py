"""The track-driven detection schedule: full-frame MTCNN now and then, R-Net/O-Net around tracks between.

Real models on real photos: the regional pass must find the faces the full pass found (from boxes a
few pixels off, as a tracker predicts them), the pyramid sized from the camera's face sizes must
keep every face in its range, and the schedule must fall back to a full pass when tracks are lost.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from edge.config import ConfigError, load_config
from edge.schedule import DetectionSchedule, DetectionSettings
from edge.tracker import IouTracker, iou_matrix
from shared.detect import MTCNN, pyramid_scales, region_proposals
from tests.conftest import data_path

pytestmark = pytest.mark.device_profile

GROUP = ("facenet_pytorch_data", "multiface.jpg")  # six faces


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    image = cv2.imread(str(data_path(*GROUP)), cv2.IMREAD_COLOR)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def mtcnn(registry) -> MTCNN:
    return MTCNN.from_registry(registry, min_face_size=20)


@pytest.fixture(scope="module")
def full(mtcnn, photo):
    faces = [f for f in mtcnn.detect(photo) if f.score >= 0.95]
    assert len(faces) == 6
    return faces


def boxes(faces) -> np.ndarray:
    return np.array([f.box for f in faces]).reshape(-1, 4)


def matched(a: np.ndarray, b: np.ndarray, iou: float = 0.6) -> int:
    """How many boxes of `a` have a box of `b` overlapping them by at least `iou`."""
    return int((iou_matrix(a, b).max(axis=1) >= iou).sum()) if len(a) and len(b) else 0


def test_pyramid_stops_at_the_largest_face_the_camera_sees():
    every = pyramid_scales((720, 1280), 40, 0.709)
    capped = pyramid_scales((720, 1280), 40, 0.709, max_face_size=120)
    assert capped == every[: len(capped)] and len(capped) < len(every)
    # the last level kept still maps a 120 px face onto the 12 px window (or smaller)
    assert 120 * capped[-1] <= 12 and 120 * capped[-2] > 12
    assert pyramid_scales((720, 1280), 40, 0.709, max_face_size=10_000) == every


def test_capped_pyramid_keeps_faces_in_range(registry, photo, full):
    largest = int(max(f.size for f in full)) + 10
    capped = MTCNN.from_registry(registry, min_face_size=20, max_face_size=largest)
    assert matched(boxes(full), boxes(capped.detect(photo))) == len(full)
    with pytest.raises(ValueError, match="max_face_size"):
        MTCNN.from_registry(registry, min_face_size=40, max_face_size=30)


def test_region_proposals_are_squares_around_each_box():
    proposals = region_proposals(np.array([[10.0, 20.0, 30.0, 60.0]]), shifts=(0.0,), zooms=(1.0, 1.25))
    assert proposals.shape == (2, 5)
    sides = proposals[:, 2] - proposals[:, 0]
    assert np.allclose(sides, proposals[:, 3] - proposals[:, 1]) and np.allclose(sides, [40.0, 50.0])
    assert np.allclose((proposals[:, 0] + proposals[:, 2]) / 2, 20.0)


def test_redetect_finds_the_faces_from_boxes_a_tracker_would_predict(mtcnn, photo, full):
    rng = np.random.default_rng(3)
    known = boxes(full)
    side = (known[:, 2] - known[:, 0])[:, None]
    predicted = known + rng.uniform(-0.12, 0.12, size=known.shape) * side  # moved and resized a little
    faces = mtcnn.redetect(photo, predicted)
    assert matched(known, boxes(faces)) == len(full)
    assert len(faces) == len(full)  # one face per region, no duplicates
    assert all(f.landmarks.shape == (5, 2) and f.score > 0.9 for f in faces)
    assert mtcnn.redetect(photo, np.zeros((0, 4))) == []
    # where nobody is, nothing is invented
    assert mtcnn.redetect(np.zeros_like(photo), predicted) == []


def test_schedule_alternates_and_falls_back_to_a_full_pass_when_tracks_are_lost(mtcnn, photo, full):
    schedule = DetectionSchedule(DetectionSettings(full_every=3))
    tracker = IouTracker(max_age=5, min_hits=1)
    kinds = []
    for _ in range(6):
        faces, kind = schedule.detect(mtcnn, photo, tracker)
        tracker.update([f.box for f in faces])
        kinds.append(kind)
        assert matched(boxes(full), boxes(faces)) == len(full)
    assert kinds == ["full", "regional", "regional", "full", "regional", "regional"]
    # everyone vanishes (the camera was covered): the regional pass loses every track ...
    faces, kind = schedule.detect(mtcnn, np.zeros_like(photo), tracker)
    tracker.update([f.box for f in faces])
    assert (kind, faces) == ("full", [])  # a full pass was due anyway
    faces, kind = schedule.detect(mtcnn, np.zeros_like(photo), tracker)
    assert kind == "regional" and faces == []  # tracks still alive (misses 2), looked for, lost ...
    tracker.update([])
    assert schedule.detect(mtcnn, photo, tracker)[1] == "full"  # ... so the next frame is a full pass
    assert (schedule.full_passes, schedule.regional_passes) == (4, 5)


def test_every_frame_schedule_and_detectors_without_a_regional_pass(mtcnn, photo):
    schedule = DetectionSchedule(DetectionSettings(full_every=1))
    tracker = IouTracker(min_hits=1)
    for _ in range(3):
        faces, kind = schedule.detect(mtcnn, photo, tracker)
        tracker.update([f.box for f in faces])
        assert kind == "full"

    class FullOnly:  # e.g. YuNet: one network, no refinement stage to run on regions
        def detect(self, image):
            return mtcnn.detect(image)

    schedule = DetectionSchedule(DetectionSettings(full_every=5))
    for _ in range(3):
        faces, kind = schedule.detect(FullOnly(), photo, tracker)
        tracker.update([f.box for f in faces])
        assert kind == "full"


@pytest.mark.parametrize(
    ("detection", "fragment"),
    [
        ({"full_every": 0}, "full_every must be a whole number from 1 to 100"),
        ({"full_every": 2.5}, "full_every must be a whole number"),
        ({"lost_fraction": 2}, "lost_fraction must be between 0 and 1"),
        ({"max_face_size": 8}, "max_face_size must be a whole number of pixels"),
        ({"max_face_size": 30}, "max_face_size must be at least min_face_size"),
        ({"region_zooms": []}, "region_zooms must hold 1 to 4 factors"),
        ({"every": 3}, "Unknown setting(s) in [detection]: every"),
    ],
)
def test_detection_config_errors_are_sentences(tmp_path, detection, fragment):
    path = tmp_path / "edge.json"
    path.write_text(json.dumps({"device_id": "room-101", "detection": detection}))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert fragment in str(caught.value)


def test_detection_config_defaults_and_values(tmp_path):
    path = tmp_path / "edge.json"
    path.write_text(
        json.dumps({"device_id": "room-101", "detection": {"full_every": 8, "max_face_size": 200}})
    )
    config = load_config(path)
    assert config.detection.full_every == 8 and config.detection.max_face_size == 200
    path.write_text(json.dumps({"device_id": "room-101"}))
    assert load_config(path).detection == DetectionSettings()


def test_a_track_about_to_be_dropped_gets_a_full_pass_first(mtcnn, photo, full):
    """One face hidden (a hand, a turned head): the regional pass misses it; before the tracker would
    drop its track, the whole frame is searched, even when the lost fraction alone would not ask."""
    hidden = photo.copy()
    x1, y1, x2, y2 = (int(v) for v in full[0].box)
    hidden[max(y1, 0) : y2, max(x1, 0) : x2] = 0
    # max_track_misses 1: after one miss a track is no longer looked for regionally, so only the full
    # pass before its expiry can find the face again
    schedule = DetectionSchedule(DetectionSettings(full_every=50, lost_fraction=1.0, max_track_misses=1))
    tracker = IouTracker(max_age=2, min_hits=1)
    kinds = []
    for image in (photo, hidden, hidden, photo, photo):
        faces, kind = schedule.detect(mtcnn, image, tracker)
        tracker.update([f.box for f in faces])
        kinds.append(kind)
    # misses 1, 2 on the regional passes; at 2 (= max_age) the next frame is full and finds the face
    assert kinds == ["full", "regional", "regional", "full", "regional"]
    assert len(tracker.tracks) == len(full)  # the hidden face's track survived: found again in time
