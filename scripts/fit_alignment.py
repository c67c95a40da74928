#!/usr/bin/env python3
"""Measure where MTCNN's five landmarks fall on dlib's own face chips (the embedder's training crops).

dlib's ResNet was trained on chips cut by dlib's 5-point shape predictor with
`get_face_chip(size=150, padding=0.25)`. For each real face we (1) let dlib cut its chip
and recover the exact chip -> image mapping by passing coordinate ramps through dlib's own
chip extractor, (2) run Visage's MTCNN on the same image and (3) map MTCNN's landmarks into
chip coordinates. The per-point median over all faces is the template in shared/align.py.

Needs the export extra (dlib-bin) and models/ (MTCNN). Labels are never used, so fitting on
any real faces is fair; by default it uses faces that are not in the LFW evaluation pairs.

    python scripts/fit_alignment.py [IMAGES...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared.detect import MTCNN
from shared.media import read_image
from shared.model_registry import ModelRegistry

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_GLOBS = (
    "lfw_subset_10x10/*/*.jpg",
    "deepface_unit_dataset/img*.jpg",
    "face_recognition_examples/**/*.jpg",
    "facenet_pytorch_data/test_images/*/*.jpg",
)
PADDING = 0.25
SIZE = 150


def chip_to_image(dlib, image_hw: tuple[int, int], shape) -> np.ndarray:
    """The 2x3 affine map chip (u, v) -> image (x, y) that dlib's get_face_chip applies.

    Bilinear sampling of a linear ramp returns the sampled coordinate exactly, so chips cut
    from x- and y-ramp images reveal the mapping to within rounding (0.5 px).
    """
    height, width = image_hw
    xx, yy = np.meshgrid(np.arange(width), np.arange(height))
    sampled = []
    for ramp in (xx, yy):
        encoded = np.zeros((height, width, 3), np.uint8)
        encoded[..., 0], encoded[..., 1] = ramp % 256, ramp // 256
        chip = dlib.get_face_chip(encoded, shape, size=SIZE, padding=PADDING).astype(np.float64)
        sampled.append(chip[..., 0] + 256 * chip[..., 1])
    u, v = np.meshgrid(np.arange(SIZE), np.arange(SIZE))
    inside = (sampled[0] > 1) & (sampled[0] < width - 2) & (sampled[1] > 1) & (sampled[1] < height - 2)
    design = np.stack([u[inside], v[inside], np.ones(inside.sum())], 1)
    rows = [np.linalg.lstsq(design, s[inside], rcond=None)[0] for s in sampled]
    return np.stack(rows)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("images", nargs="*", type=Path)
    args = parser.parse_args()
    import dlib

    from shared.export.dlib_resnet import dlib_model_path

    paths = args.images or sorted({p for pattern in DEFAULT_GLOBS for p in DATA.glob(pattern)})
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(dlib_model_path("shape_predictor_5_face_landmarks.dat")))
    mtcnn = MTCNN.from_registry(ModelRegistry())
    points = []
    for path in paths:
        image = read_image(path)
        found = detector(image, 1)
        if len(found) != 1:
            continue  # one face only: no ambiguity about which MTCNN face is the same one
        shape = predictor(image, found[0])
        faces = mtcnn.detect(image)
        if len(faces) != 1:
            continue
        forward = np.vstack([chip_to_image(dlib, image.shape[:2], shape), [0, 0, 1]])
        inverse = np.linalg.inv(forward)
        landmarks = np.hstack([faces[0].landmarks, np.ones((5, 1))]) @ inverse[:2].T
        points.append(landmarks)
    if not points:
        print("No usable faces found.", file=sys.stderr)
        return 1
    stack = np.stack(points)
    template = np.median(stack, axis=0)
    spread = np.linalg.norm(stack - template, axis=2).mean(0)
    print(
        f"{len(stack)} faces; mean deviation per point (px on a {SIZE} px chip): "
        f"{np.round(spread, 2).tolist()}"
    )
    print(json.dumps({"template": np.round(template, 2).tolist(), "faces": len(stack)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
