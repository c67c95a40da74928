"""SBI with the paper's 68-point masks (dlib at training time) on real faces: the mask covers the
face, stays inside the crop, and the blend is visible; plus the run-time crop contract."""

from __future__ import annotations

import numpy as np
import pytest

from shared.deepfake.crops import face_crop, to_crop_coords
from shared.deepfake.sbi import landmark_mask, self_blend
from tests.conftest import data_path

SIZE = 224
MARGIN = 0.25
PHOTOS = (
    ("lfw_subset_10x10", "Colin_Powell", "Colin_Powell_0001.jpg"),
    ("face_recognition_examples", "examples", "obama.jpg"),
)
VIDEO = ("real_face_videos", "filby89+spectre", "samples", "LRS3", "QoT0S2vu9m4_00002.mp4")


@pytest.fixture(scope="module")
def faces(registry):
    """(crop, box, 68 landmarks, 5 landmarks) in crop coordinates: MTCNN box, dlib points."""
    pytest.importorskip("dlib")
    import cv2

    from shared.detect import MTCNN
    from shared.export.landmarks68 import predictor68
    from shared.media import read_image

    detector = MTCNN.from_registry(registry)
    predict = predictor68()
    images = [read_image(data_path(*parts)) for parts in PHOTOS]
    capture = cv2.VideoCapture(str(data_path(*VIDEO)))
    ok, frame = capture.read()
    capture.release()
    assert ok
    images.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    out = []
    for image in images:
        face = detector.detect(image)[0]
        crop = face_crop(image, face.box, MARGIN, SIZE)
        box = to_crop_coords(face.box.reshape(2, 2), face.box, MARGIN, SIZE).reshape(4)
        marks68 = to_crop_coords(predict(image, face.box), face.box, MARGIN, SIZE)
        out.append((crop, box, marks68, to_crop_coords(face.landmarks, face.box, MARGIN, SIZE)))
    return out


def test_68_points_fall_on_the_face_mtcnn_found(faces):
    from shared.deepfake.trainset import landmarks_agree

    agree = [landmarks_agree(marks68, marks5, box) for _, box, marks68, marks5 in faces]
    # The frontal photos agree; the LRS3 frame (head turned, 224 px, blurred) is where dlib fits a
    # frontal shape beside the face: the check that keeps such masks out of training catches it.
    assert agree == [True, True, False]
    for _, box, marks68, marks5 in faces[:2]:
        assert marks68.shape == (68, 2)
        eyes = np.stack([marks68[36:42].mean(axis=0), marks68[42:48].mean(axis=0)])
        assert np.abs(eyes - marks5[:2]).max() < 0.08 * (box[2] - box[0])
        assert (marks68 >= 0).all() and (marks68 < SIZE).all(), "the landmarks lie inside the crop"


def test_68_point_mask_covers_the_face_and_stays_in_the_crop(faces):
    for crop, box, marks68, _ in faces[:2]:
        mask = landmark_mask(crop.shape[:2], marks68)
        x1, y1, x2, y2 = box
        face_area = (x2 - x1) * (y2 - y1)
        assert 0.4 * face_area < mask.sum() < 1.2 * face_area, "the hull is about the face's size"
        # The inner face (eyes, nose, mouth: points 17-67) is inside the hull.
        inner = np.round(marks68[17:]).astype(int)
        assert mask[inner[:, 1], inner[:, 0]].mean() > 0.95
        # Nothing of the mask reaches the crop's outer 10% band: the margin keeps the boundary visible.
        band = int(0.1 * SIZE)
        assert mask[:band].sum() == mask[-band:].sum() == mask[:, :band].sum() == mask[:, -band:].sum() == 0


def test_68_point_blend_is_visible_and_confined_to_its_mask(faces):
    for n, (crop, box, marks68, _) in enumerate(faces[:2]):
        for seed in range(3):
            real, fake, mask = self_blend(crop, marks68, box, np.random.default_rng(10 * n + seed))
            diff = np.abs(real.astype(int) - fake.astype(int)).max(axis=2)
            assert not (diff[mask == 0] > 0).any(), "outside the mask the fake is the real"
            inside = mask >= 0.5 * mask.max()  # blend ratios go down to 0.25
            assert inside.sum() > 0.2 * (box[2] - box[0]) * (box[3] - box[1])
            assert diff[inside].mean() >= 1.0, "the blend changes the face visibly (>= 1 grey level)"
            ys, xs = np.nonzero(mask > 0)
            assert xs.min() > 0 and ys.min() > 0 and xs.max() < SIZE - 1 and ys.max() < SIZE - 1
