"""SBI generator and the shared face crop: properties on real faces, determinism, geometry."""

from __future__ import annotations

import numpy as np
import pytest

from shared.deepfake.crops import crop_square, face_crop, to_crop_coords, to_input
from shared.deepfake.sbi import augment_pair, hull_mask, self_blend
from tests.conftest import data_path

SIZE = 160
MARGIN = 0.25
PHOTOS = (
    ("lfw_subset_10x10", "Colin_Powell", "Colin_Powell_0001.jpg"),
    ("lfw_subset_10x10", "Tony_Blair", "Tony_Blair_0003.jpg"),
    ("face_recognition_examples", "examples", "obama.jpg"),
)


@pytest.fixture(scope="module")
def faces(registry):
    """(crop, box, landmarks) in crop coordinates for a few real faces, via the real MTCNN."""
    from shared.detect import MTCNN
    from shared.media import read_image

    detector = MTCNN.from_registry(registry)
    out = []
    for parts in PHOTOS:
        image = read_image(data_path(*parts))
        face = detector.detect(image)[0]
        crop = face_crop(image, face.box, MARGIN, SIZE)
        box = to_crop_coords(face.box.reshape(2, 2), face.box, MARGIN, SIZE).reshape(4)
        out.append((crop, box, to_crop_coords(face.landmarks, face.box, MARGIN, SIZE)))
    return out


def test_fake_differs_from_real_only_inside_the_blended_region(faces):
    for n, (crop, box, landmarks) in enumerate(faces):
        for seed in range(4):
            real, fake, mask = self_blend(crop, landmarks, box, np.random.default_rng(100 * n + seed))
            assert real.shape == fake.shape == (SIZE, SIZE, 3) and mask.shape == (SIZE, SIZE)
            np.testing.assert_array_equal(real, crop)
            changed = np.abs(real.astype(int) - fake.astype(int)).max(axis=2) > 0
            assert changed.any(), "the fake must differ from its real somewhere"
            assert not changed[mask == 0].any(), "pixels outside the mask must be untouched"
            assert mask.min() >= 0.0 and mask.max() <= 1.0


def test_mask_lies_inside_the_face_box(faces):
    for n, (crop, box, landmarks) in enumerate(faces):
        for seed in range(4):
            _, _, mask = self_blend(crop, landmarks, box, np.random.default_rng(7 + 10 * n + seed))
            x1, y1, x2, y2 = box
            ys, xs = np.mgrid[0:SIZE, 0:SIZE]
            inside = (xs >= x1) & (xs < x2) & (ys >= y1) & (ys < y2)
            assert mask[inside].sum() >= 0.85 * mask.sum(), "most of the blend must be on the face"
            # Shift, elastic warp and blur may spill a little past the box (<= 21% of its size
            # in 300 seeds), never far.
            w, h = x2 - x1, y2 - y1
            near = (xs >= x1 - 0.25 * w) & (xs < x2 + 0.25 * w) & (ys >= y1 - 0.25 * h) & (ys < y2 + 0.25 * h)
            assert mask[~near].max(initial=0.0) == 0.0
            # The hull covers the eyes-nose-mouth region: every landmark is under the mask.
            for x, y in landmarks:
                assert mask[round(y), round(x)] > 0


def test_same_seed_same_pair_and_different_seed_different_pair(faces):
    crop, box, landmarks = faces[0]
    a = self_blend(crop, landmarks, box, np.random.default_rng(3))
    b = self_blend(crop, landmarks, box, np.random.default_rng(3))
    c = self_blend(crop, landmarks, box, np.random.default_rng(4))
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[1], c[1])
    ra, fa = augment_pair(a[0], a[1], np.random.default_rng(9))
    rb, fb = augment_pair(b[0], b[1], np.random.default_rng(9))
    np.testing.assert_array_equal(ra, rb)
    np.testing.assert_array_equal(fa, fb)


def test_hull_mask_is_clipped_to_the_box():
    landmarks = np.array([[40, 50], [80, 50], [60, 70], [45, 90], [75, 90]], np.float32)
    box = np.array([30, 30, 90, 110], np.float32)
    mask = hull_mask((128, 128), landmarks, box)
    assert mask.sum() > 0.3 * 60 * 80
    assert (
        mask[:30].sum() == 0 and mask[110:].sum() == 0 and mask[:, :30].sum() == 0 and mask[:, 90:].sum() == 0
    )


def test_face_crop_pads_past_the_edge_and_keeps_geometry():
    image = np.full((100, 200, 3), 50, np.uint8)
    image[10:30, 0:20] = (255, 0, 0)  # a red "face" in the top-left corner
    box = (0.0, 10.0, 20.0, 30.0)
    x0, y0, side = crop_square(box, 0.5)
    assert (x0, y0, side) == (-10, 0, 40)
    crop = face_crop(image, box, 0.5, 40)
    assert crop.shape == (40, 40, 3) and crop.dtype == np.uint8
    assert (crop[:, :10] == 0).all(), "the part left of the image is zero padding"
    assert (crop[10:30, 10:30] == (255, 0, 0)).all()
    corners = to_crop_coords(np.array([[0.0, 10.0], [20.0, 30.0]]), box, 0.5, 40)
    np.testing.assert_allclose(corners, [[10, 10], [30, 30]])
    small = face_crop(image, box, 0.5, 20)
    assert small.shape == (20, 20, 3)
    with pytest.raises(ValueError):
        face_crop(image, (5, 5, 5, 9), 0.2, 32)


def test_to_input_normalises_and_transposes():
    crops = np.zeros((2, 4, 4, 3), np.uint8)
    crops[1, ..., 0] = 255
    x = to_input(crops, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    assert x.shape == (2, 3, 4, 4) and x.dtype == np.float32
    assert np.allclose(x[0], -1.0) and np.allclose(x[1, 0], 1.0) and np.allclose(x[1, 1:], -1.0)
