"""Alignment geometry, pose and blur measures, on synthetic geometry and real faces."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from shared.align import (
    CHIP_SIZE,
    DLIB_CHIP_TEMPLATE,
    align_face,
    estimate_similarity,
    fallback_landmarks,
    jitter_templates,
)
from shared.quality import QualityThresholds, estimate_pose, image_blur, laplacian_variance

pytestmark = pytest.mark.device_profile


def _similarity(scale: float, angle_deg: float, shift: tuple[float, float]) -> np.ndarray:
    a = math.radians(angle_deg)
    return np.array(
        [
            [scale * math.cos(a), -scale * math.sin(a), shift[0]],
            [scale * math.sin(a), scale * math.cos(a), shift[1]],
        ]
    )


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


@pytest.mark.parametrize(
    "scale,angle,shift", [(1.0, 0, (0, 0)), (2.5, 17, (40, -12)), (0.3, -40, (300, 200))]
)
def test_estimate_similarity_recovers_known_transform(scale, angle, shift):
    matrix = _similarity(scale, angle, shift)
    moved = _apply(matrix, DLIB_CHIP_TEMPLATE)
    recovered = estimate_similarity(DLIB_CHIP_TEMPLATE, moved)
    assert np.allclose(recovered, matrix, atol=1e-3)


def test_estimate_similarity_never_reflects():
    mirrored = DLIB_CHIP_TEMPLATE * np.array([-1.0, 1.0])
    matrix = estimate_similarity(DLIB_CHIP_TEMPLATE, mirrored)
    assert np.linalg.det(matrix[:, :2]) > 0


@pytest.mark.parametrize("scale,angle", [(2.0, 25), (6.0, -10), (0.8, 5)])
def test_align_face_puts_landmarks_on_the_template(scale, angle):
    # Draw a dot at each landmark of a face placed by a known transform; the chip must show
    # the dots where the template says, whatever the face's size and tilt.
    matrix = _similarity(scale, angle, (400, 350))
    landmarks = _apply(matrix, DLIB_CHIP_TEMPLATE - CHIP_SIZE / 2)
    image = np.zeros((1200, 1200, 3), dtype=np.uint8)
    for x, y in landmarks:
        cv2.circle(image, (round(x), round(y)), max(2, round(2 * scale)), (255, 255, 255), -1)
    chip = align_face(image, landmarks)
    assert chip.shape == (CHIP_SIZE, CHIP_SIZE, 3)
    gray = chip[..., 0].astype(np.float64)
    for x, y in DLIB_CHIP_TEMPLATE:
        window = gray[int(y) - 4 : int(y) + 5, int(x) - 4 : int(x) + 5]
        assert window.max() > 100, f"no landmark dot near template point ({x}, {y})"
    assert gray[5:20, 5:20].max() == 0  # nothing drawn where no landmark is


def test_jitter_templates_are_small_deterministic_moves():
    moved = jitter_templates(12, seed=3)
    assert len(moved) == 12 and jitter_templates(0) == []
    again = jitter_templates(12, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(moved, again, strict=True))
    assert not np.array_equal(moved[0], jitter_templates(12, seed=4)[0])
    for template in moved:
        shift = np.linalg.norm(template - DLIB_CHIP_TEMPLATE, axis=1)
        # 3 degrees, +-1% scale and 2% shift of a 150 px chip: a few pixels, never a new face crop.
        assert 0 < shift.max() < 9
        # Still a similarity of the template: the eye distance changes by at most the 1% scale.
        eyes = np.linalg.norm(template[1] - template[0])
        assert 0.989 <= eyes / np.linalg.norm(DLIB_CHIP_TEMPLATE[1] - DLIB_CHIP_TEMPLATE[0]) <= 1.011
    with pytest.raises(ValueError, match="negative"):
        jitter_templates(-1)


def test_fallback_landmarks_fill_the_box():
    points = fallback_landmarks(np.array([100, 50, 250, 200]))
    assert points.shape == (5, 2)
    assert (points[:, 0] > 100).all() and (points[:, 0] < 250).all()
    assert points[0, 1] < points[3, 1]  # eyes above mouth


def test_pose_frontal_and_turned():
    frontal = estimate_pose(DLIB_CHIP_TEMPLATE)
    assert abs(frontal.yaw) < 5 and abs(frontal.roll) < 1 and abs(frontal.pitch) < 15
    turned = DLIB_CHIP_TEMPLATE.copy()
    turned[2, 0] += 15  # nose towards the right eye: head turned
    assert estimate_pose(turned).yaw > 30
    tilted = _apply(_similarity(1.0, 20, (0, 0)), DLIB_CHIP_TEMPLATE)
    assert estimate_pose(tilted).roll == pytest.approx(20, abs=0.5)
    assert abs(estimate_pose(tilted).yaw) < 5


def test_blur_measure_drops_when_blurred():
    rng = np.random.default_rng(0)
    sharp = (rng.random((200, 200, 3)) * 255).astype(np.uint8)
    blurred = cv2.GaussianBlur(sharp, (0, 0), 3)
    assert laplacian_variance(sharp) > 10 * laplacian_variance(blurred)
    assert image_blur(np.zeros((3000, 100, 3), np.uint8)) == 0.0


def test_strict_thresholds_are_stricter():
    default, strict = QualityThresholds(), QualityThresholds.strict()
    assert strict.min_face_px > default.min_face_px and strict.max_yaw_deg < default.max_yaw_deg
